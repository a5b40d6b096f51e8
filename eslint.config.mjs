// Lint rules for the whole project: typescript-eslint's recommended set; formatting is prettier's job.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default tseslint.config(
    { ignores: ["node_modules/", "policy/node_modules/", "bin/", ".local/", "rendered/", ".stryker-tmp/", "reports/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    prettier,
    {
        rules: {
            "@typescript-eslint/no-non-null-assertion": "warn",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
        },
    },
    {
        // Dynamic providers are serialized closures: they load modules inside their methods, with require.
        files: ["components/formation/**/*.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        // Tests reach internal, untyped modules (@pulumi/policy/proxy, the CLI's gRPC stubs) and patch child_process.
        files: ["test/**/*.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        files: ["**/*.js"],
        languageOptions: {
            sourceType: "commonjs",
            globals: { require: "readonly", process: "readonly", console: "readonly", Buffer: "readonly" },
        },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
