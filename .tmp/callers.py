import json,sys,collections
p=json.load(open(sys.argv[1])); target=sys.argv[2]
nodes={n['id']:n for n in p['nodes']}
parent={}
for n in p['nodes']:
  for c in n.get('children',[]): parent[c]=n['id']
dt=collections.defaultdict(float)
for s,d in zip(p['samples'],p['timeDeltas']): dt[s]+=d/1000
# inclusive time per node
incl=collections.defaultdict(float)
for nid,ms in dt.items():
  cur=nid
  while cur is not None:
    incl[cur]+=ms; cur=parent.get(cur)
key=lambda x:(x['callFrame']['functionName'] or '(anon)')+' '+x['callFrame']['url'].split('node_modules/')[-1]+':'+str(x['callFrame']['lineNumber'])
agg=collections.defaultdict(float)
for n in p['nodes']:
  if target in key(n):
    # caller chain 3 up
    chain=[]; cur=parent.get(n['id'])
    for _ in range(int(sys.argv[3]) if len(sys.argv)>3 else 3):
      if cur is None: break
      chain.append(key(nodes[cur])); cur=parent.get(cur)
    agg[' <- '.join(chain)]+=incl[n['id']]
for k,v in sorted(agg.items(),key=lambda x:-x[1])[:12]: print(round(v),'ms',k)
