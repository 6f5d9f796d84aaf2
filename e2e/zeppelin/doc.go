// Package zeppelin tests the path Zeppelin's JDBC interpreter takes to the SQL endpoint: an
// `insight-grid local --sql` stack, rows written by SQL and by a Redis client in the
// spark-redis layout, and e2e/clients/zeppelin/ZeppelinJdbcPath.java running notes' %jdbc
// paragraphs through MariaDB Connector/J and commons-dbcp2 as the interpreter does
// (docs/zeppelin.md says why Zeppelin itself is not run here).
package zeppelin
