package io.stload.architecture;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.library.Architectures.LayeredArchitecture;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The shape of the house as the imports have it: a checkpoint flows one way through loader-core's packages, and no
 * package reaches one to its right. The order is docs/design.md's: the exception family, libc and the host facts
 * at the bottom, then the format, the checkpoint, the plan, the report, the destinations, the engine, the front
 * doors and the store of versions.
 */
class LayeringTest {
    /** Left to right: each package may use only those before it. */
    static final List<String> LAYERS = List.of("root", "nativeio", "host", "format", "checkpoint", "plan", "report",
            "sink", "io", "load", "store");

    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.stload");

    @Test
    void noPackageImportsOneToItsRight() {
        LayeredArchitecture layers = layeredArchitecture().consideringOnlyDependenciesInLayers();
        for (String layer : LAYERS) {
            layers = layers.layer(layer).definedBy(layer.equals("root") ? "io.stload" : "io.stload." + layer + "..");
        }
        for (int i = 0; i < LAYERS.size() - 1; i++) {
            String[] above = LAYERS.subList(i + 1, LAYERS.size()).toArray(String[]::new);
            layers = layers.whereLayer(LAYERS.get(i)).mayOnlyBeAccessedByLayers(above);
        }
        layers = layers.whereLayer(LAYERS.getLast()).mayNotBeAccessedByAnyLayer();
        layers.check(MAIN);
    }

    @Test
    void packagesFormNoCycle() {
        slices().matching("io.stload.(*)..").should().beFreeOfCycles().check(MAIN);
    }

    @Test
    void everyPackageOfTheCoreHasItsPlace() {
        List<String> unplaced = MAIN.stream().map(JavaClass::getPackageName)
                .filter(p -> p.startsWith("io.stload"))
                .filter(p -> !p.equals("io.stload"))
                .map(p -> p.substring("io.stload.".length()).split("\\.")[0])
                .filter(p -> !LAYERS.contains(p))
                .distinct().toList();
        assertEquals(List.of(), unplaced,
                "a package of loader-core that the layering does not name: give it its place in LAYERS and docs/design.md");
    }
}
