# systemctl daemon-reload
rmdir -- /etc/systemd/system/app.service.d 2>/dev/null || :; rmdir -- /etc/systemd/system/epmd.socket.d 2>/dev/null || :; systemctl daemon-reload
# take mb0 down
systemctl disable --quiet --now wg-quick@mb0; if ip link show dev mb0 >/dev/null 2>&1; then WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 run_logged wg-quick down mb0; fi
# disable and remove meshbeam-firewall.service
systemctl disable --quiet --now meshbeam-firewall.service && rm -f -- /etc/systemd/system/meshbeam-firewall.service && systemctl daemon-reload
# restart epmd.socket as Debian has it (when enabled)
if systemctl is-enabled --quiet epmd.socket || systemctl is-active --quiet epmd.socket; then systemctl restart epmd.socket; fi
