package io.stload.io;

/**
 * One unit of background I/O: a byte range of one file, and its place in the stream of all windows (files
 * in plan order, each front to back), which is what read-ahead limits are measured in.
 *
 * @param index       position in the stream
 * @param file        the file's index in the reader's file list
 * @param offset      file offset of the first byte
 * @param length      bytes
 * @param streamStart bytes of all earlier windows
 */
record Window(int index, int file, long offset, long length, long streamStart) {
}
