// Package config gives flags their defaults from the environment, so a
// service can be configured either way (flags win).
package config

import (
	"log"
	"os"
	"time"
)

// Env returns the value of the environment variable name, or def when it is
// unset or empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// EnvDuration is Env for durations; a malformed value is reported and def is
// used, so a typo in a deployment does not stop the service.
func EnvDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		log.Printf("config: %s=%q is not a duration, using %s", name, v, def)
		return def
	}
	return d
}
