// The dashboard's one stylesheet: system colours for light and dark (prefers-color-scheme), a
// status is always a word with a colour, never a colour alone; tables scroll on narrow screens.
export const STYLE = `
:root { color-scheme: light dark; --bg:#fff; --fg:#1b1f24; --muted:#5b6470; --line:#d6dae0; --panel:#f5f7fa;
  --link:#0b57d0; --focus:#c2410c; --ok:#1a7f37; --bad:#c62828; --run:#0b57d0; --wait:#8a6d00; --off:#6b7280; }
@media (prefers-color-scheme: dark) { :root { --bg:#14171c; --fg:#e6e9ee; --muted:#a3acb9; --line:#343b46; --panel:#1d2229;
  --link:#8ab4f8; --focus:#fbbf24; --ok:#4ade80; --bad:#f87171; --run:#60a5fa; --wait:#facc15; --off:#9ca3af; } }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, sans-serif; background:var(--bg); color:var(--fg); }
a { color:var(--link); }
:focus-visible { outline:3px solid var(--focus); outline-offset:2px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:var(--panel); padding:6px; z-index:9; }
header { display:flex; flex-wrap:wrap; gap:12px; align-items:center; padding:8px 16px; border-bottom:1px solid var(--line); background:var(--panel); }
header nav { display:flex; flex-wrap:wrap; gap:4px 14px; }
header nav a[aria-current=page] { font-weight:700; text-decoration:none; }
header .who { margin-left:auto; display:flex; gap:8px; align-items:center; color:var(--muted); }
main { padding:16px; max-width:1400px; }
h1 { font-size:1.4rem; margin:.2rem 0 1rem; } h2 { font-size:1.1rem; margin:1.4rem 0 .5rem; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; color:var(--muted); }
code, pre, .mono { font-family:ui-monospace, monospace; font-size:.9em; }
pre.log { background:var(--panel); border:1px solid var(--line); padding:8px; max-height:480px; overflow:auto; white-space:pre-wrap; }
.status { display:inline-block; padding:0 6px; border-radius:4px; border:1px solid currentColor; font-size:.85em; white-space:nowrap; }
.st-succeeded { color:var(--ok); } .st-failed, .st-timed_out, .st-unhealthy, .st-offline { color:var(--bad); } .st-available { color:var(--ok); }
.st-running, .st-scheduled { color:var(--run); } .st-queued, .st-pending, .st-draining { color:var(--wait); }
.st-cancelled, .st-skipped { color:var(--off); }
.reason { font-size:1.05rem; padding:8px 12px; border-left:4px solid var(--wait); background:var(--panel); margin:0 0 1rem; }
.flash { padding:8px 12px; border:1px solid var(--line); border-left:4px solid var(--run); background:var(--panel); margin-bottom:12px; }
.flash.error { border-left-color:var(--bad); }
form.inline { display:inline; }
button, input, select { font:inherit; padding:4px 10px; border:1px solid var(--line); border-radius:4px; background:var(--bg); color:var(--fg); }
button { cursor:pointer; background:var(--panel); } button.danger { color:var(--bad); border-color:var(--bad); }
.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; margin-bottom:12px; }
.filters label { display:flex; flex-direction:column; font-size:.85em; color:var(--muted); }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(150px, 1fr)); gap:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 12px; background:var(--panel); }
.card .n { font-size:1.5rem; font-weight:700; display:block; }
dl.fields { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0; } dl.fields dt { color:var(--muted); }
dl.fields dd { margin:0; overflow-wrap:anywhere; }
.bar { display:flex; align-items:center; gap:8px; min-width:220px; } .bar meter { flex:1; height:14px; min-width:80px; }
.timeline { list-style:none; padding:0; border-left:2px solid var(--line); margin-left:6px; }
.timeline li { padding:2px 0 8px 14px; position:relative; } .timeline li::before { content:""; position:absolute; left:-6px; top:8px; width:10px; height:10px; border-radius:50%; background:var(--line); }
.pager { display:flex; gap:12px; align-items:center; margin-top:10px; }
svg.dag { max-width:none; } svg.gantt { max-width:100%; height:auto; }
svg.dag, svg.gantt { background:var(--panel); border:1px solid var(--line); }
svg text { fill:var(--fg); font:12px system-ui, sans-serif; } svg .edge { stroke:var(--muted); fill:none; }
svg a:focus-visible rect { stroke:var(--focus); stroke-width:3; }
svg .tick line { stroke:var(--line); } figure.gantt-figure { margin:0; } figcaption { color:var(--muted); font-size:.85em; margin-top:4px; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
caption { text-align:left; color:var(--muted); font-size:.85em; padding:2px 0 6px; }
.stack { display:flex; height:12px; min-width:2px; } .stack span { display:block; height:100%; }
table.hour th[scope=row] { font-weight:400; } table.hour td.bar-cell { width:50%; }
ol.bands { list-style:none; padding:0; margin:0; display:grid; grid-template-columns:repeat(auto-fill, minmax(230px, 1fr)); gap:6px; }
ol.bands li { border:1px solid var(--line); border-left:6px solid var(--off); border-radius:4px; padding:4px 8px; background:var(--panel); display:flex; flex-direction:column; }
ol.bands .band-n { color:var(--muted); } ol.bands .band-counts { font-size:.85em; color:var(--muted); }
.legend { display:flex; flex-wrap:wrap; gap:8px; margin:6px 0; }
@media (max-width: 640px) { main { padding:8px; } th, td { padding:4px; } header .who { margin-left:0; } .hide-narrow { display:none; } }
`;
