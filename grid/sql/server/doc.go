// Package server runs the SQL endpoint: go-mysql-server's engine over package table's
// tables, speaking the MySQL wire protocol, with the endpoint's own limits (result rows
// and bytes, max_execution_time), its metrics, and its HTTP health endpoints.
package server
