/**
 * JMH benchmarks and the peers they compare against. Nothing ships from here.
 */
package io.stload.jmh;
