/** The JSC option JS_HEAP_GROWTH sets; the runtime reads `BUN_JSC_<option>` when the VM starts. */
export const HEAP_GROWTH_VARIABLE = 'BUN_JSC_heapGrowthMaxIncrease';

/** JSC's own value of the option: a process asked for it has nothing to change. */
export const JSC_DEFAULT_HEAP_GROWTH = 2;

type Exec = (file: string, args: string[], env: Record<string, string | undefined>) => void;

/**
 * Makes this process run with JS_HEAP_GROWTH. JavaScriptCore takes its options from the environment
 * once, before any of our code runs, so a process started without the option replaces itself
 * (`execve`: same pid, same arguments and runtime flags, the option added to its environment) and
 * starts over; the supervisor's children inherit the variable and start once. An operator's own
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
    ...env,
    [HEAP_GROWTH_VARIABLE]: String(growth),
  });
  return false;
}
