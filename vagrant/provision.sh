#!/usr/bin/env bash
# Provisions one VM of the two-VM lab, as root (Vagrant's shell provisioner runs it):
#   provision.sh NAME ADDRESS "node1=ADDR1 node2=ADDR2"
# Node.js, then the same host setup as the one-machine lab (Docker, CRIU, build), the base
# images (same IDs on both VMs: scripts/base-images.sh), names of both nodes in /etc/hosts, the
# certificates the Vagrantfile made, and the agent as a systemd service (scripts/systemd). Safe to run again.
# LIVEMIG_AGENT_EXTRA_ARGS: more agent flags for this node (the VM check's fault-injecting --criu).
set -euo pipefail
NAME="$1" ADDR="$2" NODES="$3"
REPO="${LIVEMIG_REPO:-/opt/livemig}"
PKI=/etc/livemig/pki
UPLOADED=/tmp/livemig-pki
NODE_VERSION=20.20.2
PORT=7411
export DEBIAN_FRONTEND=noninteractive
echo "==> provision: $NAME ($ADDR)"

# Node.js >= 20 (Debian 12 ships 18): the official build, checked against its published sums.
# >= 20.12, as setup.sh requires (crypto.hash).
node_ok() { command -v node >/dev/null && [ "$(printf '%s\n20.12\n' "$(node -p 'process.versions.node')" | sort -V | head -n1)" = 20.12 ]; }
if ! node_ok; then
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "provision: no Node.js build for $(uname -m)" >&2; exit 1 ;; esac
  apt-get update -qq && apt-get install -y -qq --no-install-recommends curl xz-utils ca-certificates >/dev/null
  tmp="$(mktemp -d)"
  base="https://nodejs.org/dist/v$NODE_VERSION" tarball="node-v$NODE_VERSION-linux-$arch.tar.xz"
  curl -fsSL -o "$tmp/$tarball" "$base/$tarball"
  curl -fsSL -o "$tmp/SHASUMS256.txt" "$base/SHASUMS256.txt"
  (cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c --quiet -)
  tar -C /usr/local --strip-components=1 --no-same-owner -xJf "$tmp/$tarball"
  rm -rf "$tmp"
  hash -r
  echo "    installed node $(node --version)"
fi

bash "$REPO/scripts/setup.sh"
systemctl enable --now docker >/dev/null
bash "$REPO/scripts/base-images.sh"

# Both nodes by name: `push --to node2` resolves it here.
sed -i '/# livemig-vagrant$/d' /etc/hosts
for n in $NODES; do echo "${n#*=} ${n%%=*} # livemig-vagrant" >> /etc/hosts; done

# Certificates: the CA's, this node's and the operator's (the CA key stays on the Vagrant host).
src="$UPLOADED"; [ -f "$src/ca.pem" ] || src="$UPLOADED/.pki" # scp nests a directory uploaded twice
for f in ca.pem "$NAME.pem" "$NAME-key.pem" client.pem client-key.pem; do
  [ -f "$src/$f" ] || { echo "provision: $src/$f missing (the Vagrantfile uploads vagrant/.pki)" >&2; exit 1; }
done
install -d -m 700 "$PKI"
install -m 644 "$src/ca.pem" "$src/$NAME.pem" "$src/client.pem" "$PKI/"
install -m 600 "$src/$NAME-key.pem" "$src/client-key.pem" "$PKI/"
rm -rf "$UPLOADED"

# The agent as a service: setup.sh installed scripts/systemd/livemig-agent.service.in; this node's
# part of its command line goes in its configuration file.
cat > /etc/default/livemig-agent <<EOF
LIVEMIG_STATE_DIR=/var/lib/livemig/agent
LIVEMIG_AGENT_ARGS="--listen 0.0.0.0:$PORT --node-name $NAME --docker-socket /run/docker.sock --tls-dir $PKI${LIVEMIG_AGENT_EXTRA_ARGS:+ $LIVEMIG_AGENT_EXTRA_ARGS}"
EOF
[ -f /etc/systemd/system/livemig-agent.service ] || { echo "provision: setup.sh did not install livemig-agent.service (no systemd?)" >&2; exit 1; }
printf '#!/bin/sh\nexec %s %s "$@"\n' "$(command -v node)" "$REPO/packages/cli/dist/main.js" > /usr/local/bin/migrate-cli
chmod 755 /usr/local/bin/migrate-cli
systemctl daemon-reload
systemctl enable livemig-agent >/dev/null
systemctl restart livemig-agent
for _ in $(seq 60); do
  if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
    echo "==> provision: $NAME ready, agent on $ADDR:$PORT (journalctl -u livemig-agent)"
    exit 0
  fi
  sleep 1
done
echo "provision: the agent on $NAME did not listen on $ADDR:$PORT within 60 s:" >&2
journalctl -u livemig-agent --no-pager -n 20 >&2
exit 1
