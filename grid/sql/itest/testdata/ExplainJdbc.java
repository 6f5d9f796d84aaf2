// ExplainJdbc runs EXPLAIN through MariaDB Connector/J as Zeppelin's JDBC interpreter does
// (Statement.execute, the text protocol): args are host:port, the password, and the CA
// file to verify the endpoint's certificate with over TLS ("-": plain). Each check prints
// "PASS <name>" or "FAIL <name>: why".
import java.sql.*;

public class ExplainJdbc {
    public static void main(String[] args) {
        String ssl = args[2].equals("-") ? "sslMode=disable" : "sslMode=verify-full&serverSslCert=" + args[2];
        String url = "jdbc:mariadb://" + args[0] + "/insight?user=insight&password=" + args[1] + "&" + ssl;
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS ex_j (id INT PRIMARY KEY, v VARCHAR(10))");
            s.execute("REPLACE INTO ex_j VALUES (1, 'a')");
            try (ResultSet rs = s.executeQuery("SELECT v FROM ex_j WHERE id = 1")) {
                System.out.println(rs.next() && rs.getString(1).equals("a") ? "PASS select" : "FAIL select: no row a");
            }
            check(s, "explain", () -> {
                try (ResultSet rs = s.executeQuery("EXPLAIN SELECT * FROM ex_j WHERE id = 1")) {
                    if (!rs.next()) return "no row";
                    long rows = rs.getLong("rows");
                    boolean rowsNull = rs.wasNull();
                    double filtered = rs.getDouble("filtered");
                    boolean filteredNull = rs.wasNull();
                    if (rs.getLong("id") != 1 || !rowsNull || !filteredNull) {
                        return "id " + rs.getLong("id") + ", rows " + rows + " (null " + rowsNull + "), filtered " + filtered + " (null " + filteredNull + ")";
                    }
                    return null;
                }
            });
            check(s, "explain-plan", () -> {
                try (ResultSet rs = s.executeQuery("EXPLAIN PLAN SELECT * FROM ex_j WHERE id = 1")) {
                    StringBuilder plan = new StringBuilder();
                    int n = 0;
                    while (rs.next()) {
                        plan.append(rs.getString(1)).append('\n');
                        n++;
                    }
                    return n >= 2 && plan.toString().contains("IndexedTableAccess(ex_j)") ? null : "plan:\n" + plan;
                }
            });
        } catch (SQLException e) {
            System.out.println("FAIL connect: " + e.getErrorCode() + " " + e.getMessage());
        }
    }

    interface Check {
        String run() throws SQLException;
    }

    static void check(Statement s, String name, Check c) {
        try {
            String why = c.run();
            System.out.println(why == null ? "PASS " + name : "FAIL " + name + ": " + why);
        } catch (SQLException e) {
            System.out.println("FAIL " + name + ": " + e.getErrorCode() + " " + e.getMessage());
        }
    }
}
