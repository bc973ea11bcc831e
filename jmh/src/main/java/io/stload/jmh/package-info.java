/** JMH benchmarks: header parsing, each load strategy cold and warm with a peer reader beside them, and conversion. */
package io.stload.jmh;
