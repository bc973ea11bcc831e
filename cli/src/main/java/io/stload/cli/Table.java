package io.stload.cli;

import io.stload.Printable;
import java.io.BufferedWriter;
import java.io.PrintWriter;
import java.util.Collection;
import java.util.List;
import java.util.function.Function;

/**
 * A plain-text table with columns sized to their widest cell. The rows are made twice, once to measure the
 * columns and once to print them, so that nothing but the column widths is held however many rows there are
 * (a header may list a million tensors). Cells are escaped ({@link Printable}): names come from files.
 *
 * @param <T> what a row shows
 */
final class Table<T> {
    private final String[] header;
    private final List<Function<T, String>> columns;

    @SafeVarargs
    @SuppressWarnings("varargs") // List.of only reads the array
    Table(String[] header, Function<T, String>... columns) {
        if (header.length != columns.length) {
            throw new IllegalArgumentException("a heading per column");
        }
        this.header = header.clone();
        this.columns = List.of(columns);
    }

    void print(Collection<T> rows, PrintWriter out) {
        int[] width = new int[header.length];
        for (int i = 0; i < header.length; i++) {
            width[i] = header[i].length();
        }
        for (T row : rows) {
            for (int i = 0; i < width.length; i++) {
                width[i] = Math.max(width[i], cell(row, i).length());
            }
        }
        // Buffered here: the CLI's writer flushes on every line, a million system calls for a million rows.
        PrintWriter buffered = new PrintWriter(new BufferedWriter(out, 1 << 16), false);
        StringBuilder line = new StringBuilder();
        printRow(buffered, line, header, width);
        String[] cells = new String[width.length];
        for (T row : rows) {
            for (int i = 0; i < cells.length; i++) {
                cells[i] = cell(row, i);
            }
            printRow(buffered, line, cells, width);
        }
        buffered.flush();
    }

    private String cell(T row, int column) {
        return Printable.escape(columns.get(column).apply(row));
    }

    private static void printRow(PrintWriter out, StringBuilder line, String[] cells, int[] width) {
        line.setLength(0);
        for (int i = 0; i < cells.length; i++) {
            if (i > 0) {
                line.append("  ");
            }
            line.append(cells[i]);
            if (i < cells.length - 1) {
                line.repeat(' ', width[i] - cells[i].length());
            }
        }
        out.println(line);
    }
}
