/** JMH benchmarks: header parsing and each load strategy, cold and warm, with a peer reader beside them. */
package io.stload.jmh;
