import json,sys,collections
p=json.load(open(sys.argv[1]))
nodes={n['id']:n for n in p['nodes']}
parent={}
for n in p['nodes']:
  for c in n.get('children',[]): parent[c]=n['id']
cnt=collections.Counter(p['samples'])
dt=collections.defaultdict(float)
for s,d in zip(p['samples'],p['timeDeltas']): dt[s]+=d/1000
incl=collections.defaultdict(float); selfm=collections.defaultdict(float)
total=0
for nid,ms in dt.items():
  n=nodes[nid]; fn=n['callFrame']['functionName']
  if fn=='(idle)': continue
  total+=ms
  key=lambda x:(x['callFrame']['functionName'] or '(anon)')+' '+x['callFrame']['url'].split('/')[-1]+':'+str(x['callFrame']['lineNumber'])
  selfm[key(n)]+=ms
  seen=set(); cur=nid
  while cur is not None:
    k=key(nodes[cur])
    if k not in seen: incl[k]+=ms; seen.add(k)
    cur=parent.get(cur)
print('busy ms',round(total))
flt=sys.argv[2] if len(sys.argv)>2 else ''
for k,v in sorted(incl.items(),key=lambda x:-x[1])[:int(sys.argv[3]) if len(sys.argv)>3 else 60]:
  if flt in k: print(f'{v/total*100:5.1f}% incl {selfm[k]/total*100:5.1f}% self  {k}')
