/**
 * Performance marks the render benchmark reads (bench/sections/dashboard.ts): the first time a view has drawn
 * its data after the page loaded. `performance.getEntriesByName('settle:instances-rendered')`.
 */
export type RenderMark = 'settle:instances-rendered' | 'settle:fleet-rendered' | 'settle:instance-rendered';

export function markOnce(name: RenderMark): void {
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
}
