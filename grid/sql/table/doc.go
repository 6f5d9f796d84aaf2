// Package table serves the grid's hashes as SQL tables to go-mysql-server: the
// database (its tables' definitions stored in the grid and cached in the endpoint while
// the grid's definitions version counter says they are current, so any number of SQL
// replicas agree), the table (a parallel scan of every
// primary, or HMGETs of the keys a primary-key lookup names), and the row editor
// (INSERT, UPDATE, DELETE, REPLACE) that writes each row's hash at the end of the
// statement.
package table
