// Package testenv starts the real outside components Tributary's tests
// run against, on 127.0.0.1 random ports: a MinIO server (S3) and an
// OpenSSH server (SFTP). Binaries come from internal/testenv/install-deps.sh.
package testenv
