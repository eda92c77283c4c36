"""The tokenizer: own jieba instance, 文号 whole, stopwords; everyday → official expansion."""
import jieba

from index.synonyms import Expander
from index.tokenizer import PolicyTokenizer, corpus_words, find_doc_numbers, normalise_doc_number


def test_doc_numbers_are_one_token_in_any_bracket_spelling():
    tokens = PolicyTokenizer().tokens("根据洪府办发〔2024〕31号和穗府办规[2025]8号执行，国务院令第746号")
    assert "洪府办发〔2024〕31号" in tokens
    assert "穗府办规〔2025〕8号" in tokens
    assert "国务院令第746号" in tokens


def test_normalised_doc_number():
    assert normalise_doc_number("洪经管办发（2024） 1号") == "洪经管办发〔2024〕1号"
    assert find_doc_numbers("见发改数据规〔2025〕27号。") == ["发改数据规〔2025〕27号"]


def test_user_words_stay_whole_and_global_jieba_is_untouched():
    tokenizer = PolicyTokenizer(user_words=["经开区政务公开工作要点"])
    assert "经开区政务公开工作要点" in tokenizer.tokens("2024年经开区政务公开工作要点发布")
    assert "专精特新" in tokenizer.tokens("专精特新企业有什么补贴")  # data/index/userdict.txt
    assert "经开区政务公开工作要点" not in jieba.lcut("2024年经开区政务公开工作要点发布")


def test_stopwords_and_punctuation_dropped():
    tokens = PolicyTokenizer().tokens("请问，失业了怎么办？")
    assert "请问" not in tokens and "怎么办" not in tokens and "，" not in tokens
    assert "失业" in tokens


def test_a_measure_word_is_not_a_content_word():
    """个 of 推荐个餐厅 is said by passages on every subject: counted as a word of the message,
    it made any passage "say" an off-topic follow-up (bot.answer.answers_message)."""
    words = PolicyTokenizer().content_words("推荐个餐厅")
    assert "个" not in words and "推荐" in words
    assert "个体户" in PolicyTokenizer().content_words("个体户怎么注销")


def test_corpus_words_from_titles_and_bodies():
    words = corpus_words(["关于印发《广州市积分制入户管理办法》的通知", "中华人民共和国社会保险法"],
                         ["广州市人力资源和社会保障局"])
    assert {"广州市积分制入户管理办法", "社会保险法", "广州市人力资源和社会保障局"} <= words


def test_everyday_words_expand_to_official_terms():
    expander = Expander.default()
    tokenizer = PolicyTokenizer()
    terms = expander.official_terms("退休金一个月能拿多少")
    assert "基本养老金" in terms
    expanded = expander.expand(tokenizer.tokens("看病报销"), "看病报销", tokenizer)
    assert "医疗保险" in expanded or "医疗" in expanded
    # a follow-up's own words in the forms its topic's documents use (「有热线吗」: 咨询电话)
    assert "电话" in expander.official_for("有热线吗") and "休息日" in expander.official_for("周末")


def test_bad_synonym_line_is_refused(tmp_path):
    path = tmp_path / "syn.tsv"
    path.write_text("开店 个体工商户\n", encoding="utf-8")  # a space, not a tab
    try:
        Expander.load(path)
    except ValueError as error:
        assert "syn.tsv:1" in str(error)
    else:
        raise AssertionError("a line without a tab must be refused")


def test_a_word_with_its_alternative_in_brackets_gives_both_readings():
    """Statutes write 公共汽（电）车 and 乡（镇）人民政府: a resident asks about 公共汽车 or 公交."""
    tokenizer = PolicyTokenizer()
    tokens = tokenizer.tokens("老年人免费乘坐市内公共汽（电）车、地铁")
    assert {"公共汽车", "汽车", "电车"} <= set(tokens)
    assert tokens.count("公共") == tokenizer.tokens("老年人免费乘坐市内公共汽车、地铁").count("公共")
    assert {"乡人", "镇人"} <= set(tokenizer.tokens("向乡（镇）人民政府申请"))
    assert not {"第一项", "一项"} & set(tokenizer.tokens("依照第（一）项规定"))  # a reference, not a reading
