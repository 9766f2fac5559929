package main

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// DefaultDatabaseURL is the local PostgreSQL a fresh machine has.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/palimpsest?sslmode=disable"

// Config is the configuration shared by every subcommand. Each field comes
// from an environment variable and can be overridden by a flag.
type Config struct {
	// DatabaseURL is the PostgreSQL database for read models (and for the
	// event store when EventStoreURL is empty). Env DATABASE_URL.
	DatabaseURL string
	// EventStoreURL is an EventStoreDB connection string (esdb://…). Empty
	// means the PostgreSQL event store. Env EVENTSTORE_URL.
	EventStoreURL string
	// Addr is the HTTP listen address. Env CMS_ADDR.
	Addr string
	// MaxEventBytes limits one event's payload plus metadata. Env CMS_MAX_EVENT_BYTES.
	MaxEventBytes int
	// LogLevel is the minimum log level. Env CMS_LOG_LEVEL (debug, info, warn, error).
	LogLevel slog.Level
	// ShutdownTimeout bounds graceful shutdown. Env CMS_SHUTDOWN_TIMEOUT.
	ShutdownTimeout time.Duration
	// MediaDir holds uploaded media, content-addressed. Env CMS_MEDIA_DIR.
	MediaDir string
	// MediaMaxBytes limits one upload. Env CMS_MEDIA_MAX_BYTES.
	MediaMaxBytes int64
	// MediaMaxPixels limits width×height of an uploaded image, checked from
	// its header before decoding. Env CMS_MEDIA_MAX_PIXELS.
	MediaMaxPixels int64
}

// RegisterFlags defines the shared flags on fs, with defaults from the environment.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", envOr("DATABASE_URL", DefaultDatabaseURL), "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.EventStoreURL, "eventstore-url", os.Getenv("EVENTSTORE_URL"), "EventStoreDB connection string; empty = PostgreSQL event store (env EVENTSTORE_URL)")
	fs.StringVar(&c.Addr, "addr", envOr("CMS_ADDR", "127.0.0.1:8080"), "HTTP listen address (env CMS_ADDR)")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", envInt("CMS_MAX_EVENT_BYTES", 1<<20), "largest event payload+metadata in bytes (env CMS_MAX_EVENT_BYTES)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration("CMS_SHUTDOWN_TIMEOUT", 15*time.Second), "graceful shutdown bound (env CMS_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.MediaDir, "media-dir", envOr("CMS_MEDIA_DIR", "./data/media"), "directory of uploaded media (env CMS_MEDIA_DIR)")
	fs.Int64Var(&c.MediaMaxBytes, "media-max-bytes", int64(envInt("CMS_MEDIA_MAX_BYTES", 10<<20)), "largest upload in bytes (env CMS_MEDIA_MAX_BYTES)")
	fs.Int64Var(&c.MediaMaxPixels, "media-max-pixels", int64(envInt("CMS_MEDIA_MAX_PIXELS", 40_000_000)), "largest image in pixels, checked before decoding (env CMS_MEDIA_MAX_PIXELS)")
	c.LogLevel = slog.LevelInfo
	if v := os.Getenv("CMS_LOG_LEVEL"); v != "" {
		_ = c.LogLevel.UnmarshalText([]byte(v))
	}
	fs.TextVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error (env CMS_LOG_LEVEL)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.DatabaseURL == "" {
		return errors.New("database URL is empty (set DATABASE_URL or -database-url)")
	}
	if c.MediaMaxBytes <= 0 || c.MediaMaxPixels <= 0 {
		return errors.New("media limits must be positive")
	}
	if c.MaxEventBytes <= 0 {
		return errors.New("max event bytes must be positive")
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return v
	}
	return def
}
