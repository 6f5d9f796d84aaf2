// JdbcCompat drives the SQL endpoint with MariaDB Connector/J as Zeppelin's JDBC interpreter
// does: server-side prepared statements (the binary protocol), batches, result-set types,
// DatabaseMetaData, and error codes. Each section prints "PASS <name>" or "FAIL <name>: why".
//
//   java -cp 'lib/*' JdbcCompat.java <host:port> <password>
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcCompat {
    interface Section { void run(Connection c) throws Exception; }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://" + args[0] + "/insight?user=insight&password=" + args[1]
                + "&useServerPrepStmts=true&sslMode=disable";
        Map<String, Section> sections = new LinkedHashMap<>();
        sections.put("ddl", c -> {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS jd_items");
                s.execute("CREATE TABLE jd_items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(10,2), at DATETIME)");
            }
        });
        sections.put("prepared-batch", c -> {
            try (PreparedStatement p = c.prepareStatement("INSERT INTO jd_items VALUES (?, ?, ?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    p.setInt(1, i);
                    p.setString(2, "item" + i);
                    p.setBigDecimal(3, new BigDecimal(i + ".25"));
                    p.setTimestamp(4, Timestamp.valueOf("2026-03-04 05:06:0" + i));
                    p.addBatch();
                }
                int[] counts = p.executeBatch();
                check(counts.length == 3, "batch counts " + Arrays.toString(counts));
            }
            try (PreparedStatement p = c.prepareStatement("INSERT INTO jd_items (id, name) VALUES (?, ?)")) {
                p.setInt(1, 4);
                p.setNull(2, Types.VARCHAR);
                check(p.executeUpdate() == 1, "insert of a row of NULLs");
            }
        });
        sections.put("prepared-select", c -> {
            try (PreparedStatement p = c.prepareStatement("SELECT id, name, price, at FROM jd_items WHERE id IN (?, ?) ORDER BY id")) {
                p.setInt(1, 2);
                p.setInt(2, 4);
                try (ResultSet r = p.executeQuery()) {
                    check(r.next(), "row 2");
                    check(r.getInt(1) == 2 && "item2".equals(r.getString(2)), "row 2 is " + r.getInt(1) + " " + r.getString(2));
                    check(new BigDecimal("2.25").equals(r.getBigDecimal(3)), "price " + r.getBigDecimal(3));
                    check(Timestamp.valueOf("2026-03-04 05:06:02").equals(r.getTimestamp(4)), "at " + r.getTimestamp(4));
                    check(r.next(), "row 4");
                    check(r.getInt(1) == 4 && r.getString(2) == null && r.wasNull() && r.getBigDecimal(3) == null, "row 4 NULLs");
                    check(!r.next(), "two rows only");
                }
            }
        });
        sections.put("aggregate", c -> {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT count(*), sum(price) FROM jd_items")) {
                check(r.next() && r.getLong(1) == 4 && r.getBigDecimal(2).compareTo(new BigDecimal("6.75")) == 0,
                        "count, sum " + r.getLong(1) + " " + r.getBigDecimal(2));
            }
        });
        sections.put("metadata", c -> {
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductVersion().contains("insight"), "product version " + md.getDatabaseProductVersion());
            boolean found = false;
            try (ResultSet r = md.getTables("insight", null, "jd_items", null)) {
                while (r.next()) found |= "jd_items".equals(r.getString("TABLE_NAME"));
            }
            check(found, "getTables lacks jd_items");
            List<String> cols = new ArrayList<>();
            try (ResultSet r = md.getColumns("insight", null, "jd_items", null)) {
                while (r.next()) cols.add(r.getString("COLUMN_NAME") + ":" + r.getString("TYPE_NAME"));
            }
            check(cols.equals(List.of("id:INT", "name:VARCHAR", "price:DECIMAL", "at:DATETIME")), "getColumns " + cols);
            try (PreparedStatement p = c.prepareStatement("SELECT name, price FROM jd_items WHERE id = ?")) {
                ResultSetMetaData rm = p.getMetaData();
                check(rm.getColumnCount() == 2 && "price".equals(rm.getColumnName(2)), "prepared metadata");
            }
        });
        sections.put("errors", c -> {
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT * FROM jd_nowhere");
                check(false, "unknown table did not fail");
            } catch (SQLException e) {
                check(e.getErrorCode() == 1146 && "42S02".equals(e.getSQLState()), "unknown table: " + e.getErrorCode() + " " + e.getSQLState());
            }
            try (PreparedStatement p = c.prepareStatement("INSERT INTO jd_items (id) VALUES (?)")) {
                p.setInt(1, 1);
                p.executeUpdate();
                check(false, "duplicate key did not fail");
            } catch (SQLException e) {
                check(e.getErrorCode() == 1062, "duplicate key: " + e.getErrorCode() + " " + e.getMessage());
            }
        });
        int failed = 0;
        try (Connection c = DriverManager.getConnection(url)) {
            for (Map.Entry<String, Section> e : sections.entrySet()) {
                try {
                    e.getValue().run(c);
                    System.out.println("PASS " + e.getKey());
                } catch (Throwable t) {
                    failed++;
                    System.out.println("FAIL " + e.getKey() + ": " + t);
                }
            }
        }
        System.exit(failed == 0 ? 0 : 1);
    }
}
