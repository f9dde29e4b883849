# Rules as iptables-nft and ip6tables-nft install them: tables ip filter and ip6 filter, a
# counter on every rule, xt matches where nft has no native equivalent (multiport, comment).
iptables-nft -A INPUT -p udp --dport 9000 -j DROP
iptables-nft -A INPUT -s 198.18.0.0/15 -p tcp --dport 22 -j ACCEPT
iptables-nft -N SERVICES
iptables-nft -A INPUT -j SERVICES
iptables-nft -A SERVICES -p tcp -m multiport --dports 80,443 -m comment --comment web -j ACCEPT
iptables-nft -A SERVICES -p tcp -j REJECT --reject-with tcp-reset
iptables-nft -P FORWARD DROP
ip6tables-nft -A INPUT -p udp --dport 9000 -j DROP
