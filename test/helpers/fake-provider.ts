/** The fake provider lives beside the demo that also uses it. */
export * from '../../scripts/fake-provider.ts';
