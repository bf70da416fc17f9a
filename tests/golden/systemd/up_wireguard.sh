# systemctl daemon-reload
systemctl daemon-reload
# enable meshbeam-firewall.service (loads table inet meshbeam at boot)
systemctl enable --quiet meshbeam-firewall.service
# load table inet meshbeam (systemctl reload-or-restart meshbeam-firewall.service)
systemctl reload-or-restart meshbeam-firewall.service
# restart epmd.socket on the mesh address and loopback
systemctl try-restart epmd.socket
# start wg-quick@mb0
systemctl enable --now wg-quick@mb0
