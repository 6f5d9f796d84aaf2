package io.insightgrid.examples;

/** Args parses the examples' positional arguments, naming the argument in every error. */
final class Args {
    private Args() {
    }

    /** positiveInt parses value as an int ≥ 1, or fails naming the argument and what it got. */
    static int positiveInt(String name, String value) {
        long n = positiveLong(name, value);
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + " " + value + ": at most " + Integer.MAX_VALUE);
        }
        return (int) n;
    }

    /** positiveLong parses value as a long ≥ 1, or fails naming the argument and what it got. */
    static long positiveLong(String name, String value) {
        long n;
        try {
            n = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " " + value + ": not an integer; want a count ≥ 1", e);
        }
        if (n < 1) {
            throw new IllegalArgumentException(name + " " + value + ": want a count ≥ 1");
        }
        return n;
    }
}
