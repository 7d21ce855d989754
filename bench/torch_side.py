"""The PyTorch side of bench/suite.lua: `python3 torch_side.py NAME THREADS REPS` builds the
workload NAME as graft's side does, times it (two warm-up runs, then the median of REPS) and
prints: median-seconds peak-RSS-KB forward-FLOPs."""
import resource, sys, time, warnings

import os
import torch, torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracle"))
import hf_bert  # noqa: E402  (the transcription of Hugging Face's BertModel)

BERT = {"base": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, hidden_dropout_prob=0, attention_probs_dropout_prob=0),
        "mini": dict(vocab_size=8000, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                     intermediate_size=512, max_position_embeddings=64, hidden_dropout_prob=0,
                     attention_probs_dropout_prob=0)}

warnings.filterwarnings("ignore")
CONV = {"c64": ((16, 64, 56, 56), (64, 64, 3, 3), 1, 1), "c256": ((16, 256, 14, 14), (256, 256, 3, 3), 1, 1),
        "p256": ((16, 256, 56, 56), (64, 256, 1, 1), 0, 1), "dw32": ((16, 32, 112, 112), (32, 1, 3, 3), 1, 32)}


def flops_of(model, x):
    """2 x multiply-adds of every convolution and linear layer in one forward."""
    total = [0]
    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            total[0] += 2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            total[0] += 2 * out.numel() * m.in_features
    hs = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total[0]


def small_cnn():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 7 * 7, 10))


def build(name):
    kind, arg = name.split(":", 1)
    if kind in ("conv", "convbw"):
        xs, ws, pad, groups = CONV[arg]
        bw = kind == "convbw"
        x, w = torch.randn(xs, requires_grad=bw), torch.randn(ws, requires_grad=bw)
        def step():
            y = torch.nn.functional.conv2d(x, w, None, padding=pad, groups=groups)
            if bw:
                y.sum().backward()
                x.grad = w.grad = None
        ho = (xs[2] + 2 * pad - ws[2]) + 1
        flops = 2 * xs[0] * ws[0] * ws[1] * ws[2] * ws[3] * ho * ho
        return step, 3 * flops if bw else flops
    if kind in ("bert", "berttrain"):
        arch, shape = arg.split("@")
        batch, length = (int(v) for v in shape.split("x"))
        c = hf_bert.Config(**BERT[arch], num_labels=2)
        m = hf_bert.BertForSequenceClassification(c)
        ids = torch.randint(1, c.vocab_size, (batch, length))
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[1::2, length - length // 4:] = 0
        y = torch.randint(0, 2, (batch,))
        h, inter, layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
        flops = 2 * batch * length * layers * (4 * h * h + 2 * h * inter) + 2 * batch * h * h
        if kind == "bert":
            m.eval()
            def step():
                with torch.no_grad():
                    m.bert(ids, mask)
            return step, flops
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(ids, mask), y).backward()
            opt.step()
        return step, 3 * flops
    arch, batch = arg.split("@")
    batch = int(batch)
    if arch == "cnn":
        m = small_cnn()
        x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    else:
        m = getattr(torchvision.models, arch)()
        x, y = torch.randn(batch, 3, 224, 224), torch.randint(0, 1000, (batch,))
    flops = flops_of(m.eval(), x)
    if kind == "eval":
        m.eval()
        def step():
            with torch.no_grad():
                m(x)
        return step, flops
    loss_fn = torch.nn.CrossEntropyLoss()
    if kind == "train":
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        def step():
            opt.zero_grad()
            loss_fn(m(x), y).backward()
            opt.step()
        return step, 3 * flops
    # frozen trunk, only fc trained: "frozen_best" runs the trunk as inference (eval, no_grad);
    # "frozen_common" sets requires_grad = False on the trunk and keeps model.train().
    opt = torch.optim.SGD(m.fc.parameters(), lr=0.01, momentum=0.9)
    if kind == "frozen_best":
        trunk = torch.nn.Sequential(*list(m.children())[:-1]).eval()
        def step():
            with torch.no_grad():
                f = torch.flatten(trunk(x), 1)
            opt.zero_grad()
            loss_fn(m.fc(f), y).backward()
            opt.step()
    else:
        for n, p in m.named_parameters():
            p.requires_grad = n.startswith("fc.")
        m.train()
        def step():
            opt.zero_grad()
            loss_fn(m(x), y).backward()
            opt.step()
    return step, flops


def main():
    name, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step, flops = build(name)
    times = []
    for r in range(reps + 2):
        t0 = time.perf_counter()
        step()
        if r >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    print("%.6f %d %d" % (times[(len(times) - 1) // 2], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flops))


main()
