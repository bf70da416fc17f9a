# systemctl daemon-reload
systemctl daemon-reload
# enable meshbeam-firewall.service (loads table inet meshbeam at boot)
systemctl enable --quiet meshbeam-firewall.service
# load table inet meshbeam (systemctl reload-or-restart meshbeam-firewall.service)
systemctl reload-or-restart meshbeam-firewall.service
# restart epmd.socket on the mesh address and loopback
systemctl try-restart epmd.socket
# enable tinc@mb0.service at boot
systemctl enable --quiet tinc@mb0.service && { systemctl is-enabled --quiet tinc.service || systemctl add-wants multi-user.target tinc@mb0.service; }
# start tinc@mb0
systemctl enable --now tinc@mb0
