# systemctl daemon-reload
rmdir -- /etc/systemd/system/app.service.d 2>/dev/null || :; rmdir -- /etc/systemd/system/epmd.socket.d 2>/dev/null || :; rmdir -- /etc/systemd/system/tinc@mb0.service.d 2>/dev/null || :; systemctl daemon-reload
# stop tincd -n mb0
systemctl disable --quiet --now tinc@mb0
# disable and remove meshbeam-firewall.service
systemctl disable --quiet --now meshbeam-firewall.service && rm -f -- /etc/systemd/system/meshbeam-firewall.service && systemctl daemon-reload
# restart epmd.socket as Debian has it (when enabled)
if systemctl is-enabled --quiet epmd.socket || systemctl is-active --quiet epmd.socket; then systemctl restart epmd.socket; fi
