/**
 * Prints the README's config reference table from the key declarations (components/configKeys.ts).
 *   npm run -s docs:config
 * test/unit/config.test.ts fails when the README's table differs from this output.
 */
import { configReferenceTable } from "../components/configKeys";

console.log(configReferenceTable());
