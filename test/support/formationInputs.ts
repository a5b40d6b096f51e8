/** Valid inputs of the formation provider, for tests that change one field at a time. */
import { formationProviderVersion } from "../../components/formation/codeVersion";
import { FormationInputs } from "../../components/formation/provider";

export function validFormationInputs(kubeconfig: string): FormationInputs {
    return {
        kubeconfig,
        namespace: "redis",
        statefulSetName: "redis",
        containerName: "redis",
        masters: 3,
        replicasPerMaster: 1,
        providerVersion: formationProviderVersion(),
    };
}
