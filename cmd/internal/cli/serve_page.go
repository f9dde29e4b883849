package cli

import (
	"bytes"
	"net/http"

	"github.com/nettune/nettune/render"
)

// htmlReport serves the last interval's report as advise -o html writes it: a person opens
// serve's address in a browser and sees the verdict and the funnels without a dashboard.
func (s *server) htmlReport(w http.ResponseWriter, _ *http.Request) {
	res := s.page.Load()
	if res == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "no interval measured yet: the first report is ready one interval after serve starts", http.StatusServiceUnavailable)
		return
	}
	// Rendered into a buffer first, so a failure is a 500 and not half a page.
	var b bytes.Buffer
	if err := render.HTML(&b, res); err != nil {
		s.warn("html", err)
		http.Error(w, "render report: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page needs nothing from anywhere: say so to the browser too.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	_, _ = w.Write(b.Bytes())
}
