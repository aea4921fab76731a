"""The README's study tables, from the report files in this folder (or the folder given).

    python3 experiments/results/paper-replica/tables.py [REPORT_DIR]

Prints markdown: per family, each law's in-sample R² and held-out MAPE / ASD per protocol (P2
first); the planner's own test; and one ordering measure the report does not compute: the
damage left at a common budget, L(T*) - loss0 (a model further from loss0 at every budget
needs more tokens to reach any given loss).
"""
import csv
import os
import sys
from itertools import combinations

here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
def read(name): return list(csv.DictReader(open(os.path.join(here, name))))
def num(x):
    try: return float(x)
    except (TypeError, ValueError): return None

LAWS = ['p2', 'p2-nodelta', 'p2-additive', 'p2-counts', 'chinchilla', 'sparsity']
HOLDOUTS = ['tokens=0.2', 'n0=max', 'rho=max']
fits = read('fits.csv')
holdouts = read('holdouts.csv')
families = list(dict.fromkeys(r['family'] for r in fits))

# The headline: P2 per family and holdout, its rank among the six laws, and the law that won.
print('| family | P2 R² in sample | holdout | P2 MAPE % | P2 ASD | P2 rank of 6 | best law (MAPE %) |')
print('|---|---|---|---|---|---|---|')
for fam in families:
    full = next(r for r in fits if r['family'] == fam and r['law'] == 'p2' and r['holdout'] == 'none')
    for h in HOLDOUTS:
        group = [r for r in holdouts if r['family'] == fam and r['holdout'] == h]
        p2 = next((r for r in group if r['law'] == 'p2'), None)
        if p2 is None or p2['status'] != 'ok':
            print(f"| {fam} | {float(full['r2']):.4f} | {h} | not fitted | | | |")
            continue
        best = next(r for r in group if r['rank'] == '1')
        print(f"| {fam} | {float(full['r2']):.4f} | {h} | {float(p2['holdout_mape']):.2f} | {float(p2['holdout_asd']):.1e} "
              f"| {p2['rank']} | {best['law']} ({float(best['holdout_mape']):.2f}) |")

for fam in families:
    print(f'\n**{fam}**\n')
    print('| law | R² in sample | ' + ' | '.join(f'{h}: MAPE % / ASD' for h in HOLDOUTS) + ' |')
    print('|---|---|' + '---|' * len(HOLDOUTS))
    for law in LAWS:
        full = next((r for r in fits if r['family'] == fam and r['law'] == law and r['holdout'] == 'none'), None)
        r2 = num(full['r2']) if full else None
        cells = []
        for h in HOLDOUTS:
            r = next((r for r in holdouts if r['family'] == fam and r['law'] == law and r['holdout'] == h), None)
            m, a = (num(r['holdout_mape']), num(r['holdout_asd'])) if r else (None, None)
            cells.append(f'{m:.2f} / {a:.1e} (#{r["rank"]})' if m is not None else 'not fitted')
        name = f'**{law}**' if law == 'p2' else law
        print(f'| {name} | ' + (f'{r2:.4f}' if r2 is not None else 'n/a') + ' | ' + ' | '.join(cells) + ' |')

print('\n| family | largest base, rate | target at | target loss | crossed at | planned | 95 % interval | error % | inside |')
print('|---|---|---|---|---|---|---|---|---|')
def interval(r):
    if r['lower'] and r['upper']: return f"{float(r['lower']):.3g}–{float(r['upper']):.3g}"
    return f"≥ {float(r['lower']):.3g}" if r['lower'] else 'none'
for r in read('plans.csv'):
    if r['kind'] != 'check': continue
    base, rate = r['plan'].split('/')[0], r['plan'].split('/')[3]
    target = float(r['criterion'].split()[-1])
    print(f"| {r['family']} | {base}, {rate} | {r['target_at']} | {target:.4f} | {float(r['actual_tokens']):.3g} | {float(r['tokens']):.3g} "
          f"| {interval(r)} | {float(r['error_pct']):+.0f} | { {'true': 'yes', 'false': 'no'}.get(r['inside'], 'n/a') } |")

curves = [r for r in read('recovery.csv') if r['kind'] == 'pruned']
def gap(r): return float(r['loss_horizon']) - float(r['loss0'])
rate_pairs = size_pairs = rate_agree = size_agree = 0
for a, b in combinations(curves, 2):
    if a['family'] != b['family']: continue
    if a['base'] == b['base'] and a['rho'] != b['rho']:
        lo, hi = sorted((a, b), key=lambda r: float(r['rho']))
        rate_pairs += 1; rate_agree += gap(hi) > gap(lo)
    elif a['base'] != b['base'] and a['setting'] == b['setting']:
        small, large = sorted((a, b), key=lambda r: float(r['n0']))
        size_pairs += 1; size_agree += gap(large) < gap(small)
print('\n| claim | measure | agree | pairs |')
print('|---|---|---|---|')
print(f'| higher rates need more post-training | more damage left at T* (L(T*) − loss0) at the higher rate | {rate_agree} | {rate_pairs} |')
print(f'| larger models need less post-training | less damage left at T* for the larger base | {size_agree} | {size_pairs} |')
