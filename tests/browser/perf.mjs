// Chromium's performance figures for the operator dashboard over ten frames of the operator
// stream at the top of the page: the main thread's busy share (TaskDuration over wall time), long
// tasks (PerformanceObserver), script and layout time, and the stream's bytes per second.
// Recorded in BENCHMARKS.md, never asserted: tests check behaviour. Used by dashboard-fleet.mjs
// and dashboard-perf.mjs.
export async function measure(page, context, frames = 10) {
  await page.evaluate(() => {
    scrollTo(0, 0);
    window.longTasks = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longTasks.push(e.duration); })
      .observe({ type: 'longtask' });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await cdp.send('Network.enable');
  let wsBytes = 0;
  cdp.on('Network.webSocketFrameReceived', (e) => { wsBytes += e.response.payloadData.length; });
  const metric = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const m0 = await metric();
  const seqStart = Number(await page.$eval('body', (b) => b.dataset.seq));
  await page.waitForFunction((k) => Number(document.body.dataset.seq) >= k, seqStart + frames, { timeout: 60000 });
  const m1 = await metric();
  const wall = m1.Timestamp - m0.Timestamp;
  return {
    frames,
    seconds: Number(wall.toFixed(2)),
    main_thread_busy: Number(((m1.TaskDuration - m0.TaskDuration) / wall).toFixed(3)),
    script_s: Number((m1.ScriptDuration - m0.ScriptDuration).toFixed(3)),
    layout_s: Number((m1.LayoutDuration - m0.LayoutDuration).toFixed(3)),
    long_tasks: await page.evaluate(() => window.longTasks.length),
    longest_task_ms: await page.evaluate(() => Math.round(Math.max(0, ...window.longTasks))),
    stream_bytes_per_s: Math.round(wsBytes / wall),
    dom_nodes: m1.Nodes,
  };
}
