// Package itest tests the SQL endpoint end to end: insight-grid local --sql (both
// binaries built by TestMain) driven through the MySQL protocol with go-sql-driver and
// through the Redis protocol with go-redis, on the same rows.
package itest
