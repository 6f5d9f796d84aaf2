#!/usr/bin/env bash
# Self-signed PKI and admin kubeconfig for the loopback-only control plane (openssl only).
# usage: pki.sh DIR APISERVER_PORT KUBECONFIG
set -euo pipefail
dir=$1 port=$2 kubeconfig=$3
mkdir -p "$dir"
cd "$dir"
sign() { # name subject [subjectAltName]
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
	if [ -n "${3:-}" ]; then
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
	else
		printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
	fi
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
	chmod 600 "$1.key"
}
if [ ! -f ca.crt ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=insight-local-ca" 2>/dev/null
	sign apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	sign admin "/O=system:masters/CN=admin"
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	chmod 600 ./*.key
fi
# The API server's client certificate for the kubelet API (logs, exec, port-forward), as
# kubeadm's apiserver-kubelet-client; also made for a PKI directory of an earlier version.
if [ ! -f apiserver-kubelet-client.crt ]; then
	sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
fi
umask 077
cat >"$kubeconfig" <<EOK
apiVersion: v1
kind: Config
clusters: [{name: insight-local, cluster: {server: "https://127.0.0.1:$port", certificate-authority: $dir/ca.crt}}]
users: [{name: admin, user: {client-certificate: $dir/admin.crt, client-key: $dir/admin.key}}]
contexts: [{name: insight-local, context: {cluster: insight-local, user: admin}}]
current-context: insight-local
EOK
