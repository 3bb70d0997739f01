//! Porcupine's key-value model against a brute-force oracle: small random one-key
//! histories of get / put / append over short strings (some ops `:info`, which may or
//! may not have happened, at any time after their invoke) must get the verdict that
//! trying every order allowed by real time gives. This covers what the search does with
//! appends (values no op observes are one state) and with puts of "" (the absent key).
use assay_check::{check_history, edn, Model};

/// xorshift64: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
#[derive(Clone, Debug)]
struct KOp {
    f: u8,
    v: String,
    ok: bool,
    call: u64,
    ret: u64,
}

/// Some order of the ops placing every ok one (within its interval) and any `:info`
/// ones, in which every ok get sees the value before it.
fn brute(ops: &[KOp], done: &mut Vec<bool>, state: &str) -> bool {
    if ops.iter().zip(done.iter()).all(|(o, d)| *d || !o.ok) {
        return true;
    }
    let min_ret = ops
        .iter()
        .zip(done.iter())
        .filter(|(o, d)| !**d && o.ok)
        .map(|(o, _)| o.ret)
        .min()
        .unwrap();
    for i in 0..ops.len() {
        if done[i] || ops[i].call > min_ret {
            continue;
        }
        let o = &ops[i];
        let next = match o.f {
            0 => {
                if !o.ok {
                    continue;
                }
                if o.v != state {
                    continue;
                }
                state.to_string()
            }
            1 => o.v.clone(),
            _ => format!("{state}{}", o.v),
        };
        done[i] = true;
        let r = brute(ops, done, &next);
        done[i] = false;
        if r {
            return true;
        }
    }
    false
}

#[test]
fn kv_agrees_with_brute_force() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut invalid, mut total) = (0, 0);
    for case in 0..5000 {
        let n = 2 + rng.below(6) as usize;
        let mut times: Vec<u64> = (0..2 * n as u64).collect();
        for i in (1..times.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            times.swap(i, j);
        }
        let mut ops = Vec::new();
        for i in 0..n {
            let (a, b) = (times[2 * i], times[2 * i + 1]);
            let f = rng.below(3) as u8;
            let alpha = ["", "a", "b", "ab", "ba", "aa", "bab"];
            let v = alpha[rng.below(if f == 0 { 7 } else { 3 }) as usize].to_string();
            let ok = rng.below(5) != 0;
            ops.push(KOp {
                f,
                v,
                ok,
                call: a.min(b),
                ret: a.max(b),
            });
        }
        if ops.iter().all(|o| !o.ok) {
            continue;
        }
        let mut events: Vec<(u64, String)> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            let f = ["get", "put", "append"][o.f as usize];
            let inv = if o.f == 0 {
                "nil".to_string()
            } else {
                format!("{:?}", o.v)
            };
            events.push((
                o.call,
                format!(
                    "{{:process {i}, :type :invoke, :f :{f}, :key \"x\", :value {inv}, :time {}}}",
                    o.call * 1000
                ),
            ));
            let ty = if o.ok { "ok" } else { "info" };
            let val = if o.f == 0 && !o.ok {
                "nil".to_string()
            } else {
                format!("{:?}", o.v)
            };
            events.push((
                o.ret,
                format!(
                    "{{:process {i}, :type :{ty}, :f :{f}, :key \"x\", :value {val}, :time {}}}",
                    o.ret * 1000
                ),
            ));
        }
        events.sort();
        let text: String = events.iter().map(|(_, l)| format!("{l}\n")).collect();
        let want = brute(&ops, &mut vec![false; n], "");
        let h = edn::parse_history(&text).unwrap();
        let v = check_history(&h, Model::Linearizable);
        let nothing = v
            .inconclusive
            .iter()
            .any(|s| s.contains("nothing in this history"));
        if nothing {
            continue;
        }
        total += 1;
        if !want {
            invalid += 1;
            let _ = format!("{v}");
        }
        assert_eq!(v.valid, want, "case {case}\n{text}\n{v}");
    }
    eprintln!("kv differential: {total} checked, {invalid} invalid");
    // Both verdicts must be exercised for the agreement to mean anything.
    assert!(invalid > total / 10 && invalid < total * 9 / 10);
}
