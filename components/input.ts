/**
 * Pulumi Inputs handled the same whether they are plain values (`npm run render`, the local runtime)
 * or Outputs (`pulumi up`).
 */
import * as pulumi from "@pulumi/pulumi";

/** f applied to a plain value stays plain (so `npm run render` gets plain YAML); an Output stays an Output. */
export function mapInput<T, U>(value: pulumi.Input<T>, f: (v: T) => U): pulumi.Input<U> {
    if (pulumi.Output.isInstance(value) || value instanceof Promise) {
        return pulumi.output(value).apply((v) => f(v as T)) as pulumi.Output<U>;
    }
    return f(value as T);
}
