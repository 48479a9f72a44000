package sim

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/paybridge/paybridge/providers/all"
)

// logRequests logs each request's provider, method, path, status and
// duration. Headers are never logged: they carry the credentials.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("provider", providerOf(r.URL.Path)),
			slog.String("method", r.Method),
			slog.String("path", r.URL.EscapedPath()),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		)
	})
}

func providerOf(path string) string {
	for _, d := range all.List {
		if strings.HasPrefix(path, d.Sim.PathPrefix) {
			return d.Name
		}
	}
	return "none"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
