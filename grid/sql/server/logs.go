package server

import (
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
)

// EngineLogs sends the engine's own log lines (go-mysql-server logs through logrus:
// connections, failed statements) to w in the endpoint's format ("json" or "text") at
// its level, so one endpoint's log is one format.
func EngineLogs(w io.Writer, format string, level slog.Level) {
	logrus.SetOutput(w)
	if format == "json" {
		logrus.SetFormatter(&logrus.JSONFormatter{})
	} else {
		logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true})
	}
	switch {
	case level <= slog.LevelDebug:
		logrus.SetLevel(logrus.DebugLevel)
	case level <= slog.LevelInfo:
		logrus.SetLevel(logrus.InfoLevel)
	case level <= slog.LevelWarn:
		logrus.SetLevel(logrus.WarnLevel)
	default:
		logrus.SetLevel(logrus.ErrorLevel)
	}
}
