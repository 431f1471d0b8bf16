// Package e2e is the module's own integration suite: `go test ./e2e`
// against a running kvstore (and its Redis) at $SERVICE_URL.
package e2e
