"""GOTModel: real-size shapes, tiny forward/backward, packing, freezing, decoder loading, generation."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from got.config import load_model_config
from got.model import attention
from got.model.generate import generate
from got.model.got import ComputeConfig, GOTModel

DECODERS = ["tiny_qwen", "tiny_opt"]


def make_model(name: str, seed: int = 0, attn: str = "sdpa_varlen") -> GOTModel:
    torch.manual_seed(seed)
    return GOTModel(load_model_config(name), ComputeConfig(attn_implementation=attn)).eval()


def sample(model: GOTModel, views: int, n_text: int, seed: int) -> tuple[list[int], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = model.cfg.vision.tokens_per_view
    ids = (
        [5, 6]
        + [model.cfg.image_token_id] * (tokens * views)
        + torch.randint(10, 7000, (n_text,), generator=g).tolist()
    )
    size = model.cfg.vision.image_size
    return ids, torch.randint(0, 256, (views, 3, size, size), dtype=torch.uint8, generator=g)


def test_real_config_shapes_on_meta_device():
    cfg = load_model_config("qwen05b")
    with torch.device("meta"):
        model = GOTModel(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["vision.patch_embed.proj.weight"] == (768, 3, 16, 16)
    assert shapes["vision.pos_embed"] == (1, 64, 64, 768)
    assert len(model.vision.blocks) == 12
    for i in range(12):
        rel = (127, 64) if i in (2, 5, 8, 11) else (27, 64)
        assert shapes[f"vision.blocks.{i}.attn.rel_pos_h"] == rel and shapes[f"vision.blocks.{i}.attn.rel_pos_w"] == rel
    assert shapes["vision.blocks.0.attn.qkv.weight"] == (2304, 768)
    assert shapes["vision.blocks.0.mlp.lin1.weight"] == (3072, 768)
    assert shapes["vision.neck.0.weight"] == (256, 768, 1, 1)
    assert shapes["vision.neck.2.weight"] == (256, 256, 3, 3)
    assert shapes["projector.conv1.weight"] == (512, 256, 3, 3)
    assert shapes["projector.conv2.weight"] == (1024, 512, 3, 3)
    assert shapes["projector.linear.weight"] == (1024, 1024)
    assert shapes["decoder.model.embed_tokens.weight"] == (151860, 1024)
    assert len(model.decoder.model.layers) == 24
    assert cfg.vision.tokens_per_view == 256
    # Tied embeddings are counted once: about 0.56B parameters, as in the released model.
    n = sum(p.numel() for p in model.parameters())
    assert 0.55e9 < n < 0.58e9, n


def test_image_features_shape():
    model = make_model("tiny_qwen")
    _, images = sample(model, views=3, n_text=1, seed=0)
    feats = model.image_features(images)
    assert feats.shape == (3, model.cfg.vision.tokens_per_view, model.d_model)


@pytest.mark.parametrize("name", DECODERS)
def test_forward_backward_reaches_every_module(name):
    model = make_model(name).train()
    ids, images = sample(model, views=2, n_text=12, seed=1)
    labels = torch.tensor([ids])
    labels[0, : len(ids) - 12] = -100
    loss = model(torch.tensor([ids]), images, labels=labels)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    for part in (model.vision, model.projector, model.decoder):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0
    # Near uniform at init: the loss sits close to log(vocab).
    assert abs(loss.item() - torch.log(torch.tensor(8217.0)).item()) < 1.5


def test_set_trainable_freezes_modules():
    model = make_model("tiny_qwen").train()
    model.set_trainable(vision=False, projector=True, decoder=True)
    ids, images = sample(model, views=1, n_text=5, seed=2)
    model(torch.tensor([ids]), images, labels=torch.tensor([ids])).backward()
    assert all(p.grad is None for p in model.vision.parameters())
    assert all(p.grad is not None for p in model.projector.parameters())


@pytest.mark.parametrize("name", DECODERS)
def test_packed_row_equals_separate_runs(name):
    model = make_model(name)
    (a, ia), (b, ib), (c, ic) = (sample(model, v, n, seed=s) for v, n, s in ((1, 9, 3), (2, 4, 4), (1, 6, 5)))
    separate = [model(torch.tensor([x]), im)[0] for x, im in ((a, ia), (b, ib), (c, ic))]
    packed_ids = torch.tensor([a + b + c])
    positions = torch.tensor([list(range(len(a))) + list(range(len(b))) + list(range(len(c)))])
    packed = model(packed_ids, torch.cat([ia, ib, ic]), position_ids=positions)[0]
    torch.testing.assert_close(packed, torch.cat(separate), rtol=1e-4, atol=1e-4)
    # The same loss, too: a packed row trains exactly like its samples one by one. The loss is the mean over
    # labelled next-token targets, so the row's is the samples' means weighted by their target counts (each
    # sample's first token is no target: nothing precedes it within the sample).
    answer = lambda ids: [-100] * 2 + ids[2:]  # noqa: E731  (the first two tokens stand for a prompt)
    rows = [(x, im, torch.tensor([answer(x)])) for x, im in ((a, ia), (b, ib), (c, ic))]
    alone = [model(torch.tensor([x]), im, labels=labels) for x, im, labels in rows]
    targets = [int((labels[0, 1:] != -100).sum()) for _, _, labels in rows]
    expected = sum(loss * n for loss, n in zip(alone, targets)) / sum(targets)
    labels = torch.cat([labels for _, _, labels in rows], dim=1)
    loss_packed = model(packed_ids, torch.cat([ia, ib, ic]), labels=labels, position_ids=positions)
    torch.testing.assert_close(loss_packed, expected, rtol=1e-5, atol=1e-6)


def test_packed_rows_need_the_block_mask_for_opt():
    # Without the explicit mask, transformers' OPT (its own sdpa ignores position_ids) attends across samples:
    # the second sample's logits change.
    model = make_model("tiny_opt", attn="sdpa")
    (a, ia), (b, ib) = sample(model, 1, 9, seed=3), sample(model, 1, 5, seed=4)
    alone = model(torch.tensor([b]), ib)[0]
    ids = torch.tensor([a + b])
    positions = torch.tensor([list(range(len(a))) + list(range(len(b)))])
    embeds = model.embed(ids, torch.cat([ia, ib]))
    leaky = model.decoder.base_model(inputs_embeds=embeds, position_ids=positions, use_cache=False).last_hidden_state
    assert not torch.allclose(model.lm_head(leaky)[0, len(a) :], alone, atol=1e-3)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_sdpa_varlen_equals_masked_sdpa(kv_heads):
    # Two packed rows (the second ends in padding, itself one more sample) and a padded batch: the same loss and
    # gradients as transformers' sdpa, which computes the whole row under a block mask.
    models = {}
    for impl in ("sdpa", "sdpa_varlen"):
        cfg = load_model_config("tiny_qwen")
        cfg.decoder["num_key_value_heads"] = kv_heads
        torch.manual_seed(0)
        models[impl] = GOTModel(cfg, ComputeConfig(attn_implementation=impl)).train()
    model = models["sdpa"]
    parts = [sample(model, v, n, seed=s) for v, n, s in ((1, 9, 3), (2, 4, 4), (1, 6, 5), (1, 30, 6))]
    rows = [parts[:3], parts[3:]]
    width = max(sum(len(ids) for ids, _ in row) for row in rows)
    ids = torch.full((2, width), model.cfg.pad_token_id)
    positions = torch.zeros((2, width), dtype=torch.long)
    for r, row in enumerate(rows):
        flat = [t for x, _ in row for t in x]
        ids[r, : len(flat)] = torch.tensor(flat)
        positions[r] = torch.cat([*(torch.arange(len(x)) for x, _ in row), torch.arange(width - len(flat))])
    images = torch.cat([im for _, im in parts])
    padded_ids = torch.full((2, 40), model.cfg.pad_token_id)
    padded_ids[0, : len(parts[0][0])], padded_ids[1] = torch.tensor(parts[0][0]), torch.tensor(parts[3][0][:40])
    mask = (padded_ids != model.cfg.pad_token_id).long()
    padded_images = torch.cat([parts[0][1], parts[3][1]])
    results = {}
    for impl, m in models.items():
        loss = m(ids, images, labels=ids, position_ids=positions) + m(
            padded_ids, padded_images, labels=padded_ids, attention_mask=mask
        )
        loss.backward()
        results[impl] = (loss.detach(), [p.grad for p in m.parameters()])
    torch.testing.assert_close(results["sdpa_varlen"][0], results["sdpa"][0], rtol=1e-6, atol=1e-6)
    for a, b in zip(results["sdpa_varlen"][1], results["sdpa"][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_sdpa_varlen_finds_sample_bounds_once_per_forward(monkeypatch):
    # Finding the bounds is a host sync; every layer gets the same position_ids, so once per forward is enough.
    # A new position_ids tensor, or the same one changed in place, gets its own bounds.
    calls = []
    monkeypatch.setattr(attention, "sample_bounds", lambda p, real=attention.sample_bounds: calls.append(1) or real(p))
    model = make_model("tiny_qwen")
    assert model.decoder.config.num_hidden_layers > 1
    (a, ia), (b, ib) = sample(model, 1, 9, seed=3), sample(model, 1, 5, seed=4)
    ids, images = torch.tensor([a + b]), torch.cat([ia, ib])
    positions = torch.tensor([list(range(len(a))) + list(range(len(b)))])
    with torch.no_grad():
        first = model(ids, images, labels=ids, position_ids=positions)
        assert len(calls) == 1
        assert model(ids, images, labels=ids, position_ids=positions.clone()) == first
        assert len(calls) == 2
        positions[0, len(a) :] += len(a)  # one sample now: the whole row is causal
        assert model(ids, images, labels=ids, position_ids=positions) != first
        assert len(calls) == 3


@pytest.mark.parametrize("name", DECODERS)
def test_decoder_grad_checkpointing_keeps_loss_and_gradients(name):
    results = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = GOTModel(load_model_config(name), ComputeConfig(decoder_grad_checkpointing=checkpointing)).train()
        assert model.decoder.is_activation_checkpointing == checkpointing
        ids, images = sample(model, 1, 12, seed=3)
        loss = model(torch.tensor([ids]), images, labels=torch.tensor([ids]))
        loss.backward()
        results.append((loss.detach(), [p.grad for p in model.parameters()]))
    (loss, grads), (loss_ckpt, grads_ckpt) = results
    assert loss_ckpt == loss
    for a, b in zip(grads, grads_ckpt):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("rows", [2, 8])
@pytest.mark.parametrize("bias", [False, True])
def test_rows_linear_equals_linear(rows, bias):
    # From 8 rows a large weight is read as weight @ x.T: the same sums up to reassociation, a plain (B, out) tensor.
    from got.model.decode import WEIGHT_MAJOR_MIN_NUMEL, rows_linear

    g = torch.Generator().manual_seed(0)
    weight = torch.randn(WEIGHT_MAJOR_MIN_NUMEL // 256, 256, generator=g) / 16  # outputs of order 1
    b = torch.randn(weight.shape[0], generator=g) if bias else None
    x = torch.randn(rows, 256, generator=g)
    out = rows_linear(x, weight, b)
    assert out.shape == (rows, weight.shape[0]) and out.is_contiguous()
    torch.testing.assert_close(out, torch.nn.functional.linear(x, weight, b), rtol=1e-5, atol=1e-5)


def near_tie_head(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A head (4096, 256) whose top 32 tokens, for the returned rows x, lie within bf16's rounding of each other."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(4096, 256, generator=g) / 16
    base = torch.randn(256, generator=g)
    x = base + torch.randn(64, 256, generator=g) / 10  # rows close to one direction...
    weight[:32] = base / base.norm() + torch.randn(32, 256, generator=g) * 1e-3  # ...that these 32 tokens share
    return weight, x


@pytest.mark.parametrize("banned", [False, True])
def test_screened_head_picks_the_fp32_argmax(banned):
    # The outside truth is the fp32 head's argmax; the screen without its error bound (bf16 alone) must miss it
    # somewhere in this near-tie set, or the test could not tell a bound from none.
    from got.model.decode import ScreenedHead

    weight, x = near_tie_head(seed=0)
    logits = torch.nn.functional.linear(x, weight)
    ban = None
    if banned:  # each row bans its own fp32 winner and a few random tokens, as the n-gram rule would
        ban = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, logits.argmax(-1, keepdim=True), True)
        ban[:, torch.randperm(4096, generator=torch.Generator().manual_seed(1))[:50]] = True
        logits = logits.masked_fill(ban, float("-inf"))

    def rows(screen: ScreenedHead) -> list[int]:  # one row at a time: a batch shares its rows' candidates
        return [screen.argmax(x[i : i + 1], None if ban is None else ban[i : i + 1]).item() for i in range(len(x))]

    screen = ScreenedHead(weight)
    assert screen.argmax(x, ban).tolist() == logits.argmax(-1).tolist()
    assert rows(screen) == logits.argmax(-1).tolist()
    unbounded = ScreenedHead(weight)
    unbounded.coef = 0.0
    assert rows(unbounded) != logits.argmax(-1).tolist()


def test_generate_through_the_screen_is_greedy_on_the_fp32_logits(monkeypatch):
    # A head large enough to be screened (the threshold lowered to the tiny head): the generated tokens are the
    # argmax of the model's own fp32 logits at every position, in a left-padded batch and under the n-gram ban.
    from got.model import decode

    monkeypatch.setattr(decode, "SCREEN_MIN_NUMEL", 0)
    model = make_model("tiny_qwen")
    prompts = [sample(model, v, 3, seed=40 + v) for v in (1, 3)]
    out = generate(model, [p for p, _ in prompts], [im for _, im in prompts], max_new_tokens=8)
    assert model.lm_head in decode._SCREENS  # the screen was used
    for (ids, images), tokens in zip(prompts, out):
        logits = model(torch.tensor([ids + tokens]), images)[0]
        assert logits[len(ids) - 1 : -1].argmax(-1).tolist() == tokens
    guarded = generate(model, [prompts[0][0]], [prompts[0][1]], max_new_tokens=12, no_repeat_ngram_size=2)[0]
    monkeypatch.setattr(decode, "SCREEN_MIN_NUMEL", 1 << 60)
    assert guarded == generate(model, [prompts[0][0]], [prompts[0][1]], max_new_tokens=12, no_repeat_ngram_size=2)[0]


def test_bad_inputs_raise_clear_errors():
    model = make_model("tiny_qwen")
    ids, images = sample(model, views=2, n_text=3, seed=6)
    with pytest.raises(TypeError, match="uint8"):
        model(torch.tensor([ids]), images.float())
    with pytest.raises(ValueError, match="<imgpad> tokens but 1 views"):
        model(torch.tensor([ids]), images[:1])
    with pytest.raises(ValueError, match="no images"):
        model(torch.tensor([ids]), None)


def test_loads_decoder_from_local_dir_and_stretches_opt_positions(tmp_path):
    cfg = load_model_config("tiny_opt")
    small = dict(cfg.decoder, vocab_size=500, max_position_embeddings=64)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.for_model(small.pop("model_type"), **small)).save_pretrained(tmp_path)
    original = AutoModelForCausalLM.from_pretrained(tmp_path).base_model.decoder.embed_positions.weight
    cfg.decoder = dict(cfg.decoder, max_position_embeddings=256)  # vocab 8217: resized to the GOT tokenizer
    model = GOTModel.with_pretrained_decoder(cfg, tmp_path)
    table = model.decoder.base_model.decoder.embed_positions.weight
    assert table.shape == (256 + 2, original.shape[1])
    torch.testing.assert_close(table[2], original[2])  # endpoints are kept, the rest interpolated
    torch.testing.assert_close(table[-1], original[-1])
    assert model.decoder.get_input_embeddings().weight.shape[0] == 8217
    assert model.cfg.decoder["max_position_embeddings"] == 256
    ids, images = sample(model, views=1, n_text=200, seed=7)  # longer than the original 64 positions
    assert torch.isfinite(model(torch.tensor([ids]), images)).all()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        GOTModel.with_pretrained_decoder(cfg, tmp_path / "missing")


@pytest.mark.parametrize("name", DECODERS)
def test_generate_batched_equals_single_and_greedy_forward(name):
    model = make_model(name)
    # One view, three pages, and five crop views: different prompt lengths in one left-padded batch.
    prompts = [sample(model, v, 3, seed=10 + v) for v in (1, 3, 5)]
    batched = generate(model, [p for p, _ in prompts], [im for _, im in prompts], max_new_tokens=6)
    single = [generate(model, [p], [im], max_new_tokens=6)[0] for p, im in prompts]
    assert batched == single
    assert all(len(s) == 6 for s in single)
    ids, images = prompts[1]
    logits = model(torch.tensor([ids + single[1]]), images)[0]
    assert logits[len(ids) - 1 : -1].argmax(-1).tolist() == single[1]


def test_generate_stops_at_im_end_per_sample():
    model = make_model("tiny_qwen")
    prompts = [sample(model, 1, 3, seed=20), sample(model, 1, 4, seed=21)]
    free = generate(model, [p for p, _ in prompts], [im for _, im in prompts], max_new_tokens=5)
    calls = []

    def force_eos_for_first(module, inputs, logits):
        calls.append(1)
        if len(calls) >= 3:  # from the third step on, sample 0 emits <|im_end|>
            logits = logits.clone()
            logits[0, model.cfg.eos_token_id] = 1e4
        return logits

    handle = model.lm_head.register_forward_hook(force_eos_for_first)
    try:
        out = generate(model, [p for p, _ in prompts], [im for _, im in prompts], max_new_tokens=5)
    finally:
        handle.remove()
    assert out[0] == free[0][:2]  # cut before <|im_end|>
    assert out[1] == free[1]  # the other sample is unaffected


def test_generate_no_repeat_ngram():
    model = make_model("tiny_qwen")
    ids, images = sample(model, 1, 3, seed=30)
    plain = generate(model, [ids], [images], max_new_tokens=12)[0]
    guarded = generate(model, [ids], [images], max_new_tokens=12, no_repeat_ngram_size=2)[0]
    assert plain != guarded  # a random-init model loops, so the guard has something to do
    full, seen = ids + guarded, set(zip(ids, ids[1:]))
    for t in range(len(ids), len(full)):  # no generated token completes a bigram seen before it
        assert (full[t - 1], full[t]) not in seen
        seen.add((full[t - 1], full[t]))


@pytest.mark.parametrize(
    "decoder", [{}, {"num_key_value_heads": 2}, {"model_type": "llama", "num_key_value_heads": 2, "mlp_bias": True}]
)
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_decode_step_matches_transformers(decoder, padded, batch, monkeypatch):
    from transformers.cache_utils import Cache

    from got.model import decode
    from got.model.generate import GrowingLayer

    monkeypatch.setattr(decode, "WEIGHT_MAJOR_MIN_NUMEL", 0)  # the tiny weights take the large weights' paths

    cfg = load_model_config("tiny_qwen")
    cfg.decoder.update(decoder)
    if cfg.decoder["model_type"] == "llama":
        cfg.decoder.pop("use_sliding_window")
    torch.manual_seed(0)
    model = GOTModel(cfg).eval()
    base, layers = model.decoder.base_model, cfg.decoder["num_hidden_layers"]
    width = 9
    mask = torch.ones(batch, width + 1, dtype=torch.long)
    if padded:
        mask[0, :3] = 0
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    embeds, token = torch.randn(batch, width, cfg.decoder["hidden_size"]), torch.tensor([7, 8, 9][:batch])
    caches = [Cache(layers=[GrowingLayer(width + 1) for _ in range(layers)]) for _ in range(2)]
    with torch.inference_mode():
        for cache in caches:
            base(
                inputs_embeds=embeds,
                attention_mask=mask[:, :width],
                position_ids=position_ids[:, :width],
                cache=cache,
                use_cache=True,
            )
        step = decode.fused_step(model.decoder, caches[1].layers, width + 1, batch)
        assert step is not None
        assert step.layers[0].down.transposed == (batch == 1)  # one row: weights stored (in, out)
        ref = base(
            inputs_embeds=base.embed_tokens(token[:, None]),
            attention_mask=mask,
            position_ids=position_ids[:, -1:],
            cache=caches[0],
            use_cache=True,
        ).last_hidden_state[:, -1]
        ours = step(token, position_ids[:, -1], width, mask.bool()[:, None, None, :] if padded else None)
    # the step's matmuls run as weight @ x.T (rows_linear) or x @ weight.T stored: the same sums up to reassociation
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(caches[0].layers, caches[1].layers):
        torch.testing.assert_close(b.key_buffer, a.key_buffer, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(b.value_buffer, a.value_buffer, rtol=1e-6, atol=1e-6)


def test_fused_step_falls_back_for_other_decoders():
    from got.model.decode import fused_step

    assert fused_step(make_model("tiny_opt").decoder, [], 8, 1) is None


def test_zero_image_features_is_the_no_image_baseline(tmp_path):
    from got.model.checkpoint import CheckpointError, checkpoint_from_model, save_checkpoint

    cfg = load_model_config("tiny_qwen")
    cfg.zero_image_features = True
    torch.manual_seed(0)
    model = GOTModel(cfg)
    ids, images = sample(model, views=1, n_text=5, seed=7)
    embeds = model.embed(torch.tensor([ids]), images)
    slots = torch.tensor(ids) == cfg.image_token_id
    assert embeds[0, slots].abs().sum() == 0 and embeds[0, ~slots].abs().sum() > 0
    other = torch.randint(0, 256, images.shape, dtype=torch.uint8)  # the image makes no difference
    torch.testing.assert_close(model(torch.tensor([ids]), images), model(torch.tensor([ids]), other))
    model(torch.tensor([ids]), images, labels=torch.tensor([ids])).backward()
    assert all(p.grad is None for p in model.vision.parameters())
    with pytest.raises(CheckpointError, match="no-image baseline"):
        save_checkpoint(checkpoint_from_model(model, None), tmp_path, "hf")
