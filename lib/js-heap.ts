/** The JSC options JS_HEAP_GROWTH sets; the runtime reads `BUN_JSC_<option>` when the VM starts. */
export const HEAP_GROWTH_VARIABLE = 'BUN_JSC_heapGrowthMaxIncrease';
export const EDEN_RATIO_VARIABLE = 'BUN_JSC_minEdenToOldGenerationRatio';

/** JSC's own growth: a process asked for it has nothing to change. */
export const JSC_DEFAULT_HEAP_GROWTH = 2;

/**
 * The JSC options for a heap growth `g`. `heapGrowthMaxIncrease` lets the heap allocate `g` times what
 * the last collection kept before it collects again. JSC collects only the young objects (an eden
 * collection) while that allowance is at least `minEdenToOldGenerationRatio` of the heap's limit, and
 * the whole heap otherwise. Right after a full collection the allowance's share is g / (1 + g): at
 * JSC's default ratio (1/3) every other collection below g = 0.5 is a full one, which cost the API
 * and the worker 12–15 % of their CPU in the collector's thread alone under load. The ratio is set to 3/4 of that share: young collections stay the rule until what they
 * promoted reaches a third of the heap's limit, then one full collection starts over.
 */
export function heapOptions(growth: number): Record<string, string> {
  const ratio = (0.75 * growth) / (1 + growth);
  return { [HEAP_GROWTH_VARIABLE]: String(growth), [EDEN_RATIO_VARIABLE]: String(Number(ratio.toFixed(4))) };
}

type Exec = (file: string, args: string[], env: Record<string, string | undefined>) => void;

/**
 * Makes this process run with JS_HEAP_GROWTH. JavaScriptCore takes its options from the environment
 * once, before any of our code runs, so a process started without them replaces itself (`execve`:
 * same pid, same arguments and runtime flags, the options added to its environment) and starts over;
 * the supervisor's children inherit the variables and start once. An operator's own
 * `BUN_JSC_heapGrowthMaxIncrease` is left as it is: the runtime already took it.
 *
 * Returns false when the process is being replaced (only a test's stand-in for `execve` returns).
 */
export function applyHeapGrowth(
  growth: number,
  env: Record<string, string | undefined> = process.env,
  exec: Exec | undefined = process.execve,
): boolean {
  if (env[HEAP_GROWTH_VARIABLE] !== undefined || growth === JSC_DEFAULT_HEAP_GROWTH || !exec) return true;
  exec(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    ...heapOptions(growth),
    ...env,
  });
  return false;
}
