// Drives the operator dashboard (/) in Debian's headless Chromium on a farm whose one video node
// shares its GPU among 4 slots, with two jobs holding two of them: checks that the node's card
// says how many of the GPU's slots are busy and names the jobs on hover, and that a node without
// slots shows no such line. Prints one JSON line of findings; exits non-zero on any failure.
// Run by tests/it/llm_slots.rs with SHOTFARM_BASE, SHOTFARM_OPERATOR_TOKEN, SHOTFARM_SLOTTED_NODE,
// SHOTFARM_PLAIN_NODE and SHOTFARM_JOBS (the two jobs' ids, comma-separated).
import { drive, env } from './harness.mjs';

const base = env('SHOTFARM_BASE');
const opsToken = env('SHOTFARM_OPERATOR_TOKEN');
const slotted = env('SHOTFARM_SLOTTED_NODE');
const plain = env('SHOTFARM_PLAIN_NODE');
const jobs = env('SHOTFARM_JOBS').split(',');

await drive({ width: 1440, height: 1000 }, async ({ page, findings }) => {
  await page.goto(`${base}/?token=${encodeURIComponent(opsToken)}`);
  await page.waitForSelector('#board:not([hidden])');
  const card = (id) => `article.node[data-node-id="${id}"]`;
  await page.waitForSelector(`${card(slotted)} .slots[data-jobs="2/4"]:not([hidden])`, { timeout: 15000 });
  findings.text = await page.textContent(`${card(slotted)} .slots`);
  findings.title = await page.getAttribute(`${card(slotted)} .slots`, 'title');
  if (findings.text !== 'GPU0 2/4 slots busy') throw new Error(`slots line: ${findings.text}`);
  for (const job of jobs) {
    if (!findings.title.includes(job)) throw new Error(`job ${job} not named: ${findings.title}`);
  }
  await page.waitForSelector(card(plain));
  findings.plain_hidden = await page.$eval(`${card(plain)} .slots`, (s) => s.hidden);
  if (!findings.plain_hidden) throw new Error('a node without slots shows a slots line');
});
