nft list table inet meshbeam >/dev/null 2>&1 || echo 'lost table'
if [ -d /run/systemd/system ]; then
systemctl is-enabled --quiet tinc@mb0.service 2>/dev/null && { systemctl is-enabled --quiet tinc.service 2>/dev/null || [ -L /etc/systemd/system/multi-user.target.wants/tinc@mb0.service ]; } || echo 'lost mesh-unit'
systemctl is-enabled --quiet meshbeam-firewall.service 2>/dev/null || echo 'lost firewall-unit'
[ "$(systemctl is-enabled epmd.socket epmd.service 2>/dev/null | grep -cx masked)" = 2 ] || echo 'lost epmd-mask'
[ "$(sha256sum 2>/dev/null < /etc/meshbeam/nftables.nft | cut -c1-64)" = a479e4b302f8a20357da4ae9ab21f847b8b7a9d09ff414bd2e4dc33f6b42dd80 ] || echo "lost file 0"
[ "$(sha256sum 2>/dev/null < /etc/systemd/system/meshbeam-firewall.service | cut -c1-64)" = d170f2cbd92cdda2c5f6e61bbe2a33d73881b6d35d374f044e6f401348951247 ] || echo "lost file 1"
[ "$(sha256sum 2>/dev/null < /etc/systemd/system/tinc@mb0.service.d/meshbeam.conf | cut -c1-64)" = 321b1d4dc423390705ab490577b1ff4e230cb976c0a1965c319d9c6d6fbcf499 ] || echo "lost file 2"
[ "$(sha256sum 2>/dev/null < /etc/systemd/system/app.service.d/meshbeam.conf | cut -c1-64)" = 6944853c1b4d7b776537312bc7295e2a1aced921c2ec0845561c62feb8aacd2b ] || echo "lost file 3"
fi
