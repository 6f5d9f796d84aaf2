// ZeppelinJdbcPath runs notes' %jdbc paragraphs against the SQL endpoint the way Zeppelin's JDBC
// interpreter (org.apache.zeppelin.jdbc.JDBCInterpreter, as of 0.11) does, with the same
// libraries: MariaDB Connector/J registered under DriverManager, a commons-dbcp2 PoolingDriver
// ("jdbc:apache:commons:dbcp:<prefix><user>") over a GenericObjectPool validated with the
// interpreter's default query "show databases", and for each statement of a paragraph
// (split at ';' outside quotes and comments): createStatement, setFetchSize(common.max_count),
// setMaxRows(zeppelin.jdbc.maxRows), execute, then getResultSet with getMetaData
// (getColumnCount, getColumnLabel) and getObject/getString per cell into a "%table" of
// tab-separated lines, or getUpdateCount. A SQLException ends the paragraph as ERROR with the
// exception's message, as the interpreter reports it. The "complete" paragraph makes the
// SQL completer's DatabaseMetaData calls. Zeppelin's JDBC interpreter is not on Maven Central
// (docs/zeppelin.md), which is why this program, not Zeppelin, is what runs here.
//
//   java -cp 'lib/*' ZeppelinJdbcPath.java <host:port> <password> <max_count> <maxRows> <testOnBorrow> <paragraph>...
//
// testOnBorrow is the setting's default.testOnBorrow (Zeppelin's default: false). A paragraph
// "complete <catalog> <table>" runs the completer's calls; "pause" prints "=== paused" and
// waits for a line on stdin (the caller restarts the endpoint meanwhile); any other is SQL.
// For each paragraph it prints "=== <n> SUCCESS" or "=== <n> ERROR", the output lines, then
// "=== end"; it exits non-zero only if it cannot run at all.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.*;
import java.util.*;

import org.apache.commons.dbcp2.DriverManagerConnectionFactory;
import org.apache.commons.dbcp2.PoolableConnectionFactory;
import org.apache.commons.dbcp2.PoolingDriver;
import org.apache.commons.pool2.impl.GenericObjectPool;

public class ZeppelinJdbcPath {
    static final String PREFIX = "default";
    static final String USER = "insight";

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: ZeppelinJdbcPath <host:port> <password> <max_count> <maxRows> <testOnBorrow> <paragraph>...");
            System.exit(2);
        }
        int maxCount = Integer.parseInt(args[2]);
        int maxRows = Integer.parseInt(args[3]);
        // The interpreter setting of docs/zeppelin.md (default.url, default.user,
        // default.password, default.driver, default.testOnBorrow) and the pool settings the
        // interpreter uses when the setting names none (maxIdle 8, minIdle 0, no caps).
        Properties props = new Properties();
        props.setProperty("user", USER);
        props.setProperty("password", args[1]);
        String url = "jdbc:mariadb://" + args[0] + "/insight";
        Class.forName("org.mariadb.jdbc.Driver");
        PoolableConnectionFactory factory = new PoolableConnectionFactory(new DriverManagerConnectionFactory(url, props), null);
        factory.setMaxConnLifetimeMillis(-1);
        factory.setValidationQuery("show databases");
        GenericObjectPool<org.apache.commons.dbcp2.PoolableConnection> pool = new GenericObjectPool<>(factory);
        pool.setTestOnBorrow(Boolean.parseBoolean(args[4]));
        pool.setMaxIdle(8);
        pool.setMinIdle(0);
        pool.setMaxTotal(-1);
        pool.setMaxWaitMillis(-1);
        factory.setPool(pool);
        new PoolingDriver().registerPool(PREFIX + USER, pool);
        String pooled = "jdbc:apache:commons:dbcp:" + PREFIX + USER;

        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in));
        for (int n = 0; n + 5 < args.length; n++) {
            String paragraph = args[n + 5];
            if (paragraph.equals("pause")) {
                System.out.println("=== paused");
                System.out.flush();
                stdin.readLine();
                continue;
            }
            List<String> out = new ArrayList<>();
            boolean ok;
            try (Connection c = DriverManager.getConnection(pooled)) {
                if (paragraph.startsWith("complete ")) {
                    String[] f = paragraph.split(" ");
                    complete(c.getMetaData(), f[1], f[2], out);
                } else {
                    for (String sql : split(paragraph)) {
                        run(c, sql, maxCount, maxRows, out);
                    }
                }
                if (!c.getAutoCommit()) {
                    c.commit();
                }
                ok = true;
            } catch (SQLException e) {
                ok = false;
                out.add(String.valueOf(e.getMessage()));
            } catch (RuntimeException e) {
                // The interpreter reports any other failure as ERROR with its stack trace.
                ok = false;
                out.add(e.toString());
            }
            System.out.println("=== " + (n + 1) + (ok ? " SUCCESS" : " ERROR"));
            out.forEach(System.out::println);
            System.out.println("=== end");
        }
        pool.close();
    }

    // run executes one statement as executeSql does, appending its output lines.
    static void run(Connection c, String sql, int maxCount, int maxRows, List<String> out) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.setFetchSize(maxCount);
            s.setMaxRows(maxRows);
            if (!s.execute(sql)) {
                out.add("%text Query executed successfully. Affected rows : " + s.getUpdateCount());
                return;
            }
            try (ResultSet r = s.getResultSet()) {
                ResultSetMetaData md = r.getMetaData();
                int cols = md.getColumnCount();
                if (s.getUpdateCount() < 0 && cols <= 0) {
                    out.add("%text Query executed successfully.");
                    return;
                }
                boolean table = !sql.toUpperCase(Locale.ROOT).contains("EXPLAIN ");
                StringBuilder head = new StringBuilder(table ? "%table " : "");
                for (int i = 1; i <= cols; i++) {
                    String label = md.getColumnLabel(i);
                    head.append(i > 1 ? "\t" : "").append(cell(label == null || label.isEmpty() ? md.getColumnName(i) : label));
                }
                out.add(head.toString());
                int shown = 0;
                while (r.next()) {
                    if (shown >= maxCount) {
                        out.add("truncated to " + maxCount + " rows (common.max_count)");
                        break;
                    }
                    StringBuilder row = new StringBuilder();
                    for (int i = 1; i <= cols; i++) {
                        row.append(i > 1 ? "\t" : "").append(r.getObject(i) == null ? "null" : cell(r.getString(i)));
                    }
                    out.add(row.toString());
                    shown++;
                }
            }
        }
    }

    // cell replaces the tabs and newlines a %table cell cannot hold, as the interpreter does.
    static String cell(String v) {
        return v == null ? "" : v.replace('\t', ' ').replace('\n', ' ');
    }

    // complete makes the SQL completer's DatabaseMetaData calls for catalog and table. The
    // completer logs and skips a call that throws; here it fails the paragraph, so that a
    // completion the notebook would silently lack shows.
    static void complete(DatabaseMetaData md, String catalog, String table, List<String> out) throws SQLException {
        String keywords = String.join(",", md.getSQLKeywords(), md.getStringFunctions(), md.getNumericFunctions(),
                md.getSystemFunctions(), md.getTimeDateFunctions());
        out.add("driver " + md.getDriverName());
        out.add("keywords " + new TreeSet<>(Arrays.asList(keywords.toLowerCase(Locale.ROOT).split("[, ]+"))).size());
        out.add("schemas " + names(md.getSchemas(), "TABLE_SCHEM"));
        out.add("catalogs " + names(md.getCatalogs(), "TABLE_CAT"));
        String[] types = {"TABLE", "VIEW", "ALIAS", "SYNONYM", "GLOBAL TEMPORARY", "LOCAL TEMPORARY"};
        out.add("tables " + names(md.getTables(catalog, catalog, "%", types), "TABLE_NAME"));
        out.add("columns " + names(md.getColumns(catalog, catalog, table, "%"), "COLUMN_NAME"));
    }

    static String names(ResultSet r, String column) throws SQLException {
        SortedSet<String> s = new TreeSet<>();
        try (r) {
            while (r.next()) {
                s.add(String.valueOf(r.getString(column)));
            }
        }
        return String.join(",", s);
    }

    // split cuts a paragraph into statements at ';' outside quotes and comments, dropping
    // empty ones, as Zeppelin's SqlSplitter does.
    static List<String> split(String text) {
        List<String> stmts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        char quote = 0;
        for (int i = 0; i < text.length(); i++) {
            char ch = text.charAt(i);
            if (quote != 0) {
                cur.append(ch);
                if (ch == '\\' && i + 1 < text.length()) {
                    cur.append(text.charAt(++i));
                } else if (ch == quote) {
                    quote = 0;
                }
            } else if (ch == '\'' || ch == '"' || ch == '`') {
                quote = ch;
                cur.append(ch);
            } else if (ch == '-' && text.startsWith("--", i)) {
                int nl = text.indexOf('\n', i);
                i = nl < 0 ? text.length() : nl;
                cur.append('\n');
            } else if (ch == ';') {
                stmts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        stmts.add(cur.toString());
        stmts.removeIf(s -> s.isBlank());
        return stmts;
    }
}
