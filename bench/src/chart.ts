import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { FanoutResult } from './fanout.js';

/** A PNG of fan-out delivery latency (p50, p99) against the number of connected watchers. */
export async function fanoutChartPng(results: FanoutResult[], title: string): Promise<Buffer> {
  const values = results.flatMap((r) => [
    { watchers: r.watchers, series: `${r.target} p50`, ms: r.latency.p50 },
    { watchers: r.watchers, series: `${r.target} p99`, ms: r.latency.p99 },
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 560,
    height: 320,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'watchers', type: 'quantitative', scale: { type: 'log' }, title: 'connected watchers (log scale)' },
      y: { field: 'ms', type: 'quantitative', title: 'delivery latency (ms)' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 4 } },
      strokeDash: { field: 'series', type: 'nominal' },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } }).render().asPng();
}
