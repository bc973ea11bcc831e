/**
 * The {@code ./stload} commands (picocli): inspect, plan, load, verify, reshard, gen, demo, serve. The CLI owns
 * its flags, its usage errors and exit codes; everything else it calls is the library's public API.
 */
package io.stload.cli;
