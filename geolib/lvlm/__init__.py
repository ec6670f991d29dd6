"""The vision-language model stage (GeoReasoner's two-stage LoRA tuning): work in progress (issue 9).

So far: the tiny profile's Qwen2-VL pieces (:mod:`geolib.lvlm.tiny`: an offline byte-level BPE tokenizer,
a chat template laid out as Qwen2-VL's, the image processor and a ~1M-parameter config) and the SFT data
path (:mod:`geolib.lvlm.data`: conversations, image tokens, labels on the assistant's answer only).
"""
