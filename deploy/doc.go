// Package deploy holds the deployment files (deploy/README.md): the systemd
// unit and the Kubernetes manifests. It has no code: its test decodes every
// manifest into the Kubernetes API types, strictly (an unknown or misspelt
// field fails), and checks what the server needs of them. A package of its
// own keeps the Kubernetes modules out of the hookline binary.
package deploy
