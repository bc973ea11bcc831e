/**
 * JMH benchmarks (header parsing, each load strategy cold and warm with a peer reader beside them, destinations,
 * conversion) and the peers they compare against. Nothing ships from here.
 */
package io.stload.jmh;
